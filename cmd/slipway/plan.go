package main

import (
	"io"

	"slipway/internal/mockcloud"
	"slipway/internal/plan"
)

// runPlan runs `slipway plan` (internal/plan.Command, where it is tested).
func runPlan(args []string, build mockcloud.BuildFunc, stdout, stderr io.Writer) int {
	return plan.Command(args, build, stdout, stderr)
}
