'use strict';
// The worker's retry schedule, a function of config so a drill can scale it down.
//
// A message whose job failed is hidden again (ChangeMessageVisibility) for
//   delay(n) = uniform in [d/2, d],  d = min(max, base * 2^(n-1)),   n = the receive that failed
// ("equal jitter": never less than half, so the schedule's lower bound holds; the random half
// keeps a crowd of messages that failed together from coming back together).
//
// With the queue's maxReceiveCount R, SQS dead-letters a message on receive R+1, so the R
// allowed receives span at least  sum_{n=1..R-1} d(n)/2  (guaranteedSpanSeconds): a database
// outage shorter than that cannot exhaust the receives of a message that failed on its first.
// Defaults (base 60 s, max 3600 s) and R = 5: 30 + 60 + 120 + 240 = 450 s > a 300 s outage.
// On top of that the consumer stops receiving while the database is unreachable, so an outage
// costs the message in hand one receive and the messages still queued none.

const SQS_MAX_VISIBILITY_SECONDS = 43200;

function nominalDelaySeconds(n, { baseSeconds, maxSeconds }) {
  return Math.min(maxSeconds, baseSeconds * 2 ** (Math.max(1, n) - 1));
}

// The visibility timeout to set after the failure of receive n (whole seconds, as SQS takes).
function retryDelaySeconds(n, schedule, random = Math.random) {
  const d = nominalDelaySeconds(n, schedule);
  return Math.min(SQS_MAX_VISIBILITY_SECONDS, Math.max(1, Math.ceil(d / 2 + (random() * d) / 2)));
}

// The least time between a message's first receive and its last allowed one (receive R).
function guaranteedSpanSeconds(maxReceiveCount, schedule) {
  let total = 0;
  for (let n = 1; n < maxReceiveCount; n++) total += Math.max(1, Math.ceil(nominalDelaySeconds(n, schedule) / 2));
  return total;
}

// Pause k (0-based) of the receive loop while the database is unreachable: 0.5 s doubling up to
// min(30 s, base), with the same equal jitter. Milliseconds.
function databaseProbeDelayMs(k, { baseSeconds }, random = Math.random) {
  const d = Math.min(30_000, baseSeconds * 1000, 500 * 2 ** k);
  return Math.round(d / 2 + (random() * d) / 2);
}

module.exports = { retryDelaySeconds, guaranteedSpanSeconds, databaseProbeDelayMs, nominalDelaySeconds, SQS_MAX_VISIBILITY_SECONDS };
