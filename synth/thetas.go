package synth

import (
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/kmtrain/knowledgemodel/features"
)

// topics name the exercises: exercise i is topics[i%len(topics)] followed by
// its level, 1 + i/len(topics).
var topics = []string{
	"addition", "subtraction", "multiplication", "division", "fractions",
	"decimals", "percents", "ratios", "exponents", "order_of_operations",
	"negative_numbers", "absolute_value", "linear_equations", "inequalities", "slope",
	"systems_of_equations", "polynomials", "factoring", "quadratics", "functions",
	"exponential_growth", "logarithms", "area", "volume", "pythagorean_theorem",
	"angles", "probability", "statistics", "trigonometry", "limits",
}

// ExerciseName returns the name of exercise i (counting from 0), such as
// "fractions_1".
func ExerciseName(i int) string {
	return topics[i%len(topics)] + "_" + strconv.Itoa(1+i/len(topics))
}

// ProblemTypeName returns the name of problem type j of an exercise.
func ProblemTypeName(j int) string { return "pt" + strconv.Itoa(j) }

// Ranges of the planted thetas. The bias is set so that the first attempt of
// an exercise, by a student with an empty KnowledgeState, is correct with a
// probability drawn in [firstCorrectMin, firstCorrectMax]: at that point the
// features are ewma_3 = ewma_10 = 0.9, percent_correct = 0.8 and 0 for the
// rest.
const (
	firstCorrectMin, firstCorrectMax = 0.55, 0.92
)

// exerciseWeights are the ranges, [lo, hi), of the six ExerciseState thetas:
// a good recent history (ewma, streak, percent correct) raises the chance of
// a correct answer, misses lower it, and practice helps.
var exerciseWeights = [features.NumExerciseFeatures][2]float64{
	{0.5, 1.2},   // ewma_3
	{0.2, 0.6},   // ewma_10
	{0.02, 0.08}, // current_streak
	{0.2, 0.6},   // log_num_done
	{-0.4, -0.1}, // log_num_missed
	{0.3, 0.8},   // percent_correct
}

// plant draws the thetas of every exercise of c, using the components of
// comps for the KnowledgeState weights.
func plant(c Config, comps *features.Components) [][features.NumFeatures]float64 {
	rng := rand.New(rand.NewPCG(c.Seed, streamThetas))
	out := make([][features.NumFeatures]float64, c.Exercises)
	for i := range out {
		th := &out[i]
		p0 := firstCorrectMin + (firstCorrectMax-firstCorrectMin)*rng.Float64()
		for k, r := range exerciseWeights {
			th[1+k] = r[0] + (r[1]-r[0])*rng.Float64()
		}
		th[0] = math.Log(p0/(1-p0)) - 0.9*(th[1]+th[2]) - features.PercentCorrectPrior*th[6]
		ks := th[1+features.NumExerciseFeatures:]
		// θ = (s/2)(c_true - c_false) for every problem type of a
		// prerequisite: a correct first answer on it adds about s/2 to the
		// logit, a wrong one subtracts about s/2 (components are unit
		// vectors; those of different keys have dot products of about
		// ±0.1, which add a little cross-talk between unrelated keys).
		for j := max(0, i-c.Prerequisites); j < i; j++ {
			s := c.KnowledgeWeight * (0.5 + rng.Float64())
			for t := 0; t < c.ProblemTypes; t++ {
				right := comps.Vector(features.ComponentKey{Exercise: ExerciseName(j), ProblemType: ProblemTypeName(t), Correct: true})
				wrong := comps.Vector(features.ComponentKey{Exercise: ExerciseName(j), ProblemType: ProblemTypeName(t), Correct: false})
				for d := range ks {
					ks[d] += s / 2 * (right[d] - wrong[d])
				}
			}
		}
		for d := range ks {
			ks[d] += c.KnowledgeNoise * rng.NormFloat64()
		}
	}
	return out
}
