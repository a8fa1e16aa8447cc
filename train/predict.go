package train

import (
	"math"

	"gonum.org/v1/gonum/floats"
)

// Sigmoid returns 1/(1+exp(-z)), computed without overflow for any z.
func Sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// Predict returns the model's probability that an answer with feature
// vector x (x[0] the bias, normally 1) is correct: sigmoid(θ·x).
// Predict panics if len(x) != len(thetas).
func Predict(thetas, x []float64) float64 {
	return Sigmoid(floats.Dot(thetas, x))
}

// LogLoss returns the mean negative log-likelihood of the rows of d under
// thetas, -(1/N) Σ (y ln p + (1-y) ln(1-p)), without the L2 penalty. It is
// the Objective with L2 = 0 and returns NaN for an empty dataset.
func LogLoss(thetas []float64, d *Dataset) float64 {
	if d.Len() == 0 {
		return math.NaN()
	}
	return (&Objective{Data: d}).Func(thetas)
}
