// Package train fits the per-exercise logistic regressions of the 2014 Khan
// Academy knowledge model.
//
// Each exercise has its own θ over the 107 features of a row (bias, six
// ExerciseState features, 100 KnowledgeState values). θ minimises
//
//	L(θ) = -(1/N) Σ_i (y_i ln p_i + (1-y_i) ln(1-p_i)) + (λ/2) Σ_{j≥1} θ_j²,
//	p_i = sigmoid(θ·x_i),
//
// the objective of the reference SciPy trainer, starting from θ = 0 with the
// bias θ[0] not penalised.
//
// The package is laid out like gonum's optimize: a Dataset holds the rows, an
// Objective evaluates L and its gradient (one pass over the rows per
// evaluation, optionally split across goroutines with a fixed reduction
// order), Settings hold the method's parameters and stopping rules, and Fit
// runs gonum's L-BFGS and returns a Result with a Status that says why it
// stopped. The defaults reproduce scipy.optimize.fmin_l_bfgs_b with m=10,
// factr=10 and pgtol=1e-6.
//
// This package knows nothing of Beam, files or any cloud service.
package train
