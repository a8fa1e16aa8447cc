// Command kmbench trains and benchmarks the knowledge model.
//
// Usage:
//
//	kmbench train --rows ROWS.csv[.gz] [--l2 0.001] [--min_rows 1]
//	    [--max_iterations 1000] [--gradient_tolerance 1e-6] [--runs 1] [--workers N]
//	kmbench pipeline ...
//
// train fits one logistic regression per exercise of a training-rows CSV and
// prints the lines of the reference SciPy trainer
// (shared/anchors/scipy_train.py), so the two can be compared; see
// compare_scipy.sh.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches to a subcommand and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "train":
		if err := runTrain(args[1:], stdout, stderr); err != nil {
			fmt.Fprintln(stderr, "kmbench train:", err)
			return 1
		}
		return 0
	case "pipeline":
		// TODO(lead): the pipeline subcommand is filled in separately.
		fmt.Fprintln(stdout, "not implemented yet")
		return 0
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "kmbench: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: kmbench <command> [flags]

commands:
  train     fit one model per exercise of a training-rows CSV (see kmbench train -h)
  pipeline  not implemented yet
`)
}
