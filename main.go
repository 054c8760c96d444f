// Slipway ships a web product to AWS: see README.md.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/program"
)

func main() { pulumi.Run(program.Run) }
