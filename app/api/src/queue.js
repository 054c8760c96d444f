'use strict';
const { SQSClient } = require('@aws-sdk/client-sqs');

// Credentials come from the default provider chain (the EC2 instance role in AWS). The SDK speaks
// SQS's JSON protocol (AWS JSON 1.0), in AWS and against the local emulator alike: there is one
// wire protocol and no switch.
function createSqsClient(queue) {
  const options = { region: queue.region };
  if (queue.endpoint) options.endpoint = queue.endpoint;
  return new SQSClient(options);
}

module.exports = { createSqsClient };
