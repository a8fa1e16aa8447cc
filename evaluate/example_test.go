package evaluate_test

import (
	"fmt"
	"math"

	"github.com/kmtrain/knowledgemodel/evaluate"
)

func Example() {
	// One accumulator per worker; the baselines' predictions come in this order.
	a := evaluate.NewAccumulator("correct_rate", "no_knowledge")
	b := evaluate.NewAccumulator("correct_rate", "no_knowledge")
	add := func(acc *evaluate.Accumulator, exercise string, correct bool, p float64, baselines ...float64) {
		if err := acc.Add(evaluate.Attempt{Exercise: exercise, Correct: correct, P: p, HasP: true, Baselines: baselines}); err != nil {
			panic(err)
		}
	}
	add(a, "addition_1", true, 0.9, 0.7, 0.8)
	add(a, "addition_1", false, 0.4, 0.7, 0.6)
	add(b, "addition_1", true, 0.7, 0.7, math.NaN()) // no_knowledge has no prediction
	add(b, "fractions", false, 0.3, 0.5, 0.4)
	add(b, "fractions", true, 0.6, 0.5, 0.5)
	b.Add(evaluate.Attempt{Exercise: "calculus", Correct: true}) // no thetas: counted, not scored

	if err := a.Merge(b); err != nil {
		panic(err)
	}
	r := a.Report()
	show := func(name string, e evaluate.Evaluation) {
		m := e.Overall
		fmt.Printf("%-12s attempts %d  LL %.3f  AUC %.3f  accuracy %.2f  unweighted AUC %.3f\n",
			name, m.Attempts, *m.LogLikelihood, *m.AUC, *m.Accuracy, *e.Unweighted.AUC)
	}
	show("model", r.Evaluation)
	show("correct_rate", r.Baselines["correct_rate"])
	show("no_knowledge", r.Baselines["no_knowledge"])
	fmt.Println("no thetas:", r.NoThetas.Attempts, "attempts on", len(r.NoThetas.Exercises), "exercise")
	// Output:
	// model        attempts 5  LL -0.368  AUC 1.000  accuracy 1.00  unweighted AUC 1.000
	// correct_rate attempts 5  LL -0.661  AUC 0.583  accuracy 0.60  unweighted AUC 0.500
	// no_knowledge attempts 4  LL -0.586  AUC 0.750  accuracy 0.75  unweighted AUC 1.000
	// no thetas: 1 attempts on 1 exercise
}

func ExampleComparer() {
	var c evaluate.Comparer
	// Predictions of the new and the current version for the same attempts.
	c.Add(true, 0.8, 0.7)
	c.Add(false, 0.3, 0.4)
	c.Add(true, 0.6, math.NaN()) // the current version has no thetas: skipped
	cmp := c.Comparison()
	fmt.Printf("%d attempts (%d skipped): new %.4f, current %.4f, delta %+.4f\n",
		cmp.Attempts, cmp.Skipped, cmp.New, cmp.Current, cmp.Delta)
	fmt.Println("promote:", cmp.Passes(0.001))
	// Output:
	// 2 attempts (1 skipped): new -0.2899, current -0.4338, delta +0.1438
	// promote: true
}
