// The Slipway foundation: one stack per AWS account, run by an
// administrator (see infra/foundation and docs/operations.md).
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/infra/foundation"
)

func main() { pulumi.Run(foundation.Run) }
