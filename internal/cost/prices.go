package cost

// The price table. Every figure is a us-east-1 on-demand list price in USD
// as published on the AWS pricing pages named below. They were written
// down from the published list prices (stable since 2023-2024 for every
// line here) while building Slipway on a machine without internet access:
// they were NOT fetched live. Check them against the pages before quoting
// a figure to anyone who pays the bill.
const (
	// PricedAsOf is when the list prices below were last known current.
	PricedAsOf = "2025-06"
	// Compiled is when the table was written into Slipway.
	Compiled = "2026-11-27"
	// PricedRegion is the only region the table prices.
	PricedRegion = "us-east-1"
	// HoursPerMonth is AWS's billing month (365 × 24 / 12).
	HoursPerMonth = 730.0
)

// Sources are the pricing pages the table follows.
var Sources = []string{
	"https://aws.amazon.com/ec2/pricing/on-demand/ (Linux, us-east-1)",
	"https://aws.amazon.com/ebs/pricing/",
	"https://aws.amazon.com/vpc/pricing/ (public IPv4 addresses, NAT, endpoints)",
	"https://aws.amazon.com/cloudwatch/pricing/",
	"https://aws.amazon.com/cloudfront/pricing/",
	"https://aws.amazon.com/s3/pricing/",
	"https://aws.amazon.com/route53/pricing/",
	"https://aws.amazon.com/ecr/pricing/",
	"https://aws.amazon.com/sqs/pricing/",
	"https://aws.amazon.com/sns/pricing/",
	"https://aws.amazon.com/systems-manager/pricing/ (Parameter Store)",
	"https://aws.amazon.com/kms/pricing/",
	"https://aws.amazon.com/backup/pricing/ (EBS backups, warm storage)",
	"https://aws.amazon.com/waf/pricing/ (web ACLs, rules, requests)",
}

// instanceHourly is the Linux on-demand price per hour of the sizes that
// have their own line (burstable families and medium sizes).
var instanceHourly = map[string]float64{
	"t4g.nano": 0.0042, "t4g.micro": 0.0084, "t4g.small": 0.0168, "t4g.medium": 0.0336,
	"t4g.large": 0.0672, "t4g.xlarge": 0.1344, "t4g.2xlarge": 0.2688,
	"t3.nano": 0.0052, "t3.micro": 0.0104, "t3.small": 0.0208, "t3.medium": 0.0416,
	"t3.large": 0.0832, "t3.xlarge": 0.1664, "t3.2xlarge": 0.3328,
	"t3a.nano": 0.0047, "t3a.micro": 0.0094, "t3a.small": 0.0188, "t3a.medium": 0.0376,
	"t3a.large": 0.0752, "t3a.xlarge": 0.1504, "t3a.2xlarge": 0.3008,
	"m6g.medium": 0.0385, "m7g.medium": 0.0408, "m8g.medium": 0.04488,
	"c6g.medium": 0.034, "c7g.medium": 0.0363, "c8g.medium": 0.03988,
	"r6g.medium": 0.0504, "r7g.medium": 0.0536, "r8g.medium": 0.05891,
	"m7a.medium": 0.05796, "c7a.medium": 0.05132,
}

// largeHourly is the price of the .large size of the other families;
// within a family on-demand prices scale with size (xlarge = 2 × large,
// 2xlarge = 4 ×, 4xlarge = 8 ×).
var largeHourly = map[string]float64{
	"m6g": 0.077, "m7g": 0.0816, "m8g": 0.08976,
	"c6g": 0.068, "c7g": 0.0725, "c8g": 0.07976,
	"r6g": 0.1008, "r7g": 0.1071, "r8g": 0.11782,
	"m6i": 0.096, "m7i": 0.1008, "m6a": 0.0864, "m7a": 0.11592,
	"c6i": 0.085, "c7i": 0.08925, "c7a": 0.10264,
	"r6i": 0.126, "r7i": 0.1323,
}

var sizeFactor = map[string]float64{"large": 1, "xlarge": 2, "2xlarge": 4, "4xlarge": 8}

// EBS, per GB-month unless stated.
var ebsGBMonth = map[string]float64{
	"gp3": 0.08, "gp2": 0.10, "io1": 0.125, "io2": 0.125, "st1": 0.045, "sc1": 0.015, "standard": 0.05,
}

const (
	gp3IOPSMonth       = 0.005 // per provisioned IOPS-month above 3,000
	gp3ThroughputMonth = 0.04  // per provisioned MB/s-month above 125
	ioIOPSMonth        = 0.065 // io1/io2 per provisioned IOPS-month
	snapshotGBMonth    = 0.05  // EBS snapshots, standard tier

	publicIPv4Hour = 0.005 // every public IPv4 address, in use or idle

	route53Zone        = 0.50 // per hosted zone-month (first 25)
	alarmStandard      = 0.10 // per standard-resolution alarm metric-month
	alarmHighRes       = 0.30 // per high-resolution (period < 60 s) alarm metric-month
	customMetric       = 0.30 // per custom metric-month (first 10,000)
	dashboardMonth     = 3.00 // per dashboard-month
	detailedMonitoring = 7    // metrics an instance's detailed monitoring bills as custom metrics
	logsIngestGB       = 0.50 // CloudWatch Logs ingestion (standard class), also vended logs' first 10 TB
	logsStoreGBMonth   = 0.03 // CloudWatch Logs storage (archive)

	ecrGBMonth = 0.10 // ECR private repository storage

	s3GBMonth  = 0.023  // S3 Standard, first 50 TB (also the backup archive's class)
	s3Put1000  = 0.005  // PUT, COPY, POST, LIST per 1,000
	s3Get1000  = 0.0004 // GET and others per 1,000
	cfGBOut    = 0.085  // CloudFront data out, North America/Europe, first 10 TB
	cfHTTPS10k = 0.01   // CloudFront HTTPS requests per 10,000, North America/Europe
	cfFunction = 0.10   // CloudFront Functions per million invocations

	sqsStandardMillion = 0.40 // SQS standard queue requests per million (after 1M free)
	sqsFIFOMillion     = 0.50

	// AWS Backup's EBS snapshot storage (warm), us-east-1, 2025 list
	// price; restores from it are free, cross-region copies are not used.
	backupEBSWarmGBMonth = 0.05

	ssmAdvancedParameter = 0.05 // per advanced parameter-month; standard parameters are free
	kmsKeyMonth          = 1.00 // per customer managed key-month; AWS managed keys are free

	natGatewayHour  = 0.045 // per NAT gateway-hour, plus data processed
	albHour         = 0.0225
	endpointAZHour  = 0.01 // interface VPC endpoint, per AZ-hour
	secretMonth     = 0.40 // Secrets Manager secret-month
	freeSQSRequests = 1e6  // always-free tier, per account and month
)
