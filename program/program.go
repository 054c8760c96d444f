// Package program is the Slipway Pulumi program as a function, so the
// CLI (main.go), the offline plan and the review-stack lifecycle all run
// the same code path.
package program

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/infra"
	"slipway/stacks"
)

// Run loads and validates the stack's config, builds the infrastructure
// and exports its outputs. Invalid config fails before any resource is
// registered.
func Run(ctx *pulumi.Context) error {
	outputs, err := Build(ctx)
	if err != nil {
		return err
	}
	for name, value := range outputs {
		ctx.Export(name, value)
	}
	return nil
}

// Build is Run without the exports: it returns the stack outputs, which is
// what the offline plan and the tests read.
func Build(ctx *pulumi.Context) (pulumi.Map, error) {
	cfg, err := stacks.Load(ctx)
	if err != nil {
		return nil, err
	}
	stack, err := infra.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return stack.Outputs(), nil
}
