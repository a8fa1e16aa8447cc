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

	o := &train.Objective{Data: d, Penalty: train.Penalty{L2: train.DefaultL2}}
	res, err := train.Fit(o, train.DefaultSettings()) // pgtol 1e-6, m 10, factr 10
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

// Keep the last columns of the rows as sums of basis vectors: here two
// 2-value "components", each row summing the ones its student has started.
// A row reads as the sums; a fit takes each basis vector's product with θ
// once per evaluation.
func ExampleNewFactoredDataset() {
	components := [][]float64{{0.6, 0.8}, {1, 0}}
	d := train.NewFactoredDataset(4, components, 3) // bias, one feature, 2 summed
	d.AddSum([]float64{1, 0.5}, []uint32{0}, true)
	d.AddSum([]float64{1, 0.2}, []uint32{0, 1}, false)
	d.AddSum([]float64{1, 0.9}, nil, true)
	for i := range d.Len() {
		fmt.Println(d.Row(i), d.Correct(i))
	}
	// Output:
	// [1 0.5 0.6 0.8] true
	// [1 0.2 1.6 0.8] false
	// [1 0.9 0 0] true
}
