'use strict';
const { SQSClient } = require('@aws-sdk/client-sqs');
const { AwsQueryProtocol } = require('@aws-sdk/core/protocols');

// Credentials come from the default provider chain (the EC2 instance role in AWS).
function createSqsClient(queue) {
  const options = { region: queue.region };
  if (queue.endpoint) options.endpoint = queue.endpoint;
  if (queue.protocol === 'query') {
    options.protocol = AwsQueryProtocol;
    options.protocolSettings = {
      defaultNamespace: 'com.amazonaws.sqs',
      xmlNamespace: 'http://queue.amazonaws.com/doc/2012-11-05/',
      version: '2012-11-05',
    };
  }
  return new SQSClient(options);
}

module.exports = { createSqsClient };
