package train_test

import (
	"fmt"
	"log"

	"github.com/kmtrain/knowledgemodel/train"
)

// Fit one exercise's model: collect its rows in a Dataset (x[0] is the bias,
// always 1), fit with the settings of the reference SciPy trainer, and use
// the thetas to predict.
func Example() {
	rows := []struct {
		x       []float64
		correct bool
	}{
		{[]float64{1, 0.9, 0.2}, true},
		{[]float64{1, 0.8, -0.1}, true},
		{[]float64{1, 0.3, 0.4}, false},
		{[]float64{1, 0.1, 0.0}, false},
		{[]float64{1, 0.7, 0.3}, true},
		{[]float64{1, 0.6, -0.3}, false},
	}
	d := train.NewDataset(3, len(rows))
	for _, r := range rows {
		d.Add(r.x, r.correct)
	}

	s := train.DefaultSettings() // l2 1e-3, pgtol 1e-6, m 10, factr 10
	res, err := train.Fit(d, s)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("status:", res.Status, "converged:", res.Converged())
	fmt.Printf("loss: %.6f\n", res.Loss)
	fmt.Printf("P(correct | x=[1 0.85 0]): %.3f\n", train.Predict(res.Thetas, []float64{1, 0.85, 0}))
	// Output:
	// status: GradientConverged converged: true
	// loss: 0.179171
	// P(correct | x=[1 0.85 0]): 0.941
}
