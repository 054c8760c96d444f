'use strict';
const os = require('node:os');
const path = require('node:path');

// The worker touches this file after every poll; the container health check reads its age.
module.exports = { HEARTBEAT_FILE: path.join(os.tmpdir(), 'slipway-worker-heartbeat') };
