package score

import (
	"math"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/predict"
)

// The baselines an evaluation scores on the same attempts as the model.
const (
	// BaselineCorrectRate predicts the exercise's correct rate in training.
	BaselineCorrectRate = "correct_rate"
	// BaselineNoKnowledge is the model without the KnowledgeState: the bias
	// and the 6 ExerciseState features, fitted on the same rows.
	BaselineNoKnowledge = "no_knowledge"
)

// BaselineNames are the names of the baselines, in the order
// Baselines.Predict gives their predictions.
var BaselineNames = []string{BaselineCorrectRate, BaselineNoKnowledge}

// Baselines predict attempts as the knowledge model's simpler relatives do,
// from what a version's thetas record of them: each exercise's correct rate
// in training and its thetas without the KnowledgeState. A Baselines is
// immutable and safe for concurrent use.
type Baselines struct {
	correctRate map[string]float64
	noKnowledge map[string][]float64
}

// NewBaselines returns the baselines of a version's thetas.
func NewBaselines(thetas []model.ExerciseThetas) *Baselines {
	b := &Baselines{correctRate: make(map[string]float64, len(thetas)), noKnowledge: map[string][]float64{}}
	for _, t := range thetas {
		b.correctRate[t.Exercise] = t.CorrectRate
		if len(t.NoKnowledgeThetas) > 0 {
			b.noKnowledge[t.Exercise] = t.NoKnowledgeThetas
		}
	}
	return b
}

// Predict appends to dst the baselines' predictions of attempt l, in the
// order of BaselineNames, by a student in state st (the knowledge model's,
// before the attempt): NaN for a baseline without a prediction, and for
// both when the exercise has no thetas.
func (b *Baselines) Predict(dst []float64, st *predict.Student, l features.ProblemLog) []float64 {
	rate, ok := b.correctRate[l.Exercise]
	if !ok {
		return append(dst, math.NaN(), math.NaN())
	}
	nk := math.NaN()
	if th := b.noKnowledge[l.Exercise]; th != nil {
		nk = st.PredictPrefix(l.Exercise, th)
	}
	return append(dst, rate, nk)
}
