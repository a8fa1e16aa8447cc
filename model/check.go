package model

import (
	"fmt"
	"math"

	"github.com/kmtrain/knowledgemodel/features"
)

// MaxAbsValue bounds the magnitude of every theta, problem type difficulty
// and component value of a model. Trained ones are a few units at most; the
// bound keeps θ·x finite for any history (features count attempts, and a
// KnowledgeState sums components), so that a prediction is never NaN, as
// sigmoid(+Inf - Inf) would be.
const MaxAbsValue = 1e100

// extendedBeforeRecent is the number of thetas of an extended model trained
// before the feature recent_correct.
const extendedBeforeRecent = 115

// CheckThetas reports whether thetas has as many values as a feature set
// has features, each finite and at most MaxAbsValue in magnitude.
func CheckThetas(thetas []float64) error {
	if n := len(thetas); n != features.Khan2014.Dim() && n != features.Extended.Dim() {
		err := fmt.Errorf("%d thetas, want %d (%s) or %d (%s)", n,
			features.Khan2014.Dim(), features.Khan2014, features.Extended.Dim(), features.Extended)
		if n == extendedBeforeRecent {
			err = fmt.Errorf("%v: an extended model trained before recent_correct; train it again", err)
		}
		return err
	}
	for i, v := range thetas {
		if err := CheckValue(v); err != nil {
			return fmt.Errorf("theta %d %v", i, err)
		}
	}
	return nil
}

// CheckValue reports whether v is finite and at most MaxAbsValue in
// magnitude.
func CheckValue(v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("is %v", v)
	}
	if math.Abs(v) > MaxAbsValue {
		return fmt.Errorf("is %g, beyond ±%g", v, MaxAbsValue)
	}
	return nil
}
