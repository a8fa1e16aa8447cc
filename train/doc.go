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
// The package is laid out like gonum's optimize: the problem apart from the
// method and the stopping rules. A Dataset holds the rows; an Objective is
// the problem, the rows with their Penalty, and evaluates L and its
// gradient (one pass over the rows per evaluation, optionally split across
// goroutines with a fixed reduction order); Settings hold the stopping
// rules and the L-BFGS memory; and Fit(objective, settings) runs gonum's
// L-BFGS and returns a Result with a Status that says why it stopped. The defaults reproduce scipy.optimize.fmin_l_bfgs_b with m=10,
// factr=10 and pgtol=1e-6.
//
// An evaluation reads every row once, in blocks of 16 rows: the scores θ·x,
// then each row's loss term and p−y, then the gradient contribution Σ(p−y)x
// while the rows are still in L1 cache. On amd64 CPUs with AVX2 and FMA these
// three steps run in assembly (gemv_amd64.s, lossterms_amd64.s); elsewhere,
// or when built with -tags noasm, in gonum's blas64 and plain Go. Partial
// sums are combined in a fixed order, so a result is the same bit for bit
// however many goroutines computed it.
//
// Consecutive rows of one exercise often carry the same KnowledgeState (it
// changes only when the student starts another exercise). With
// Objective.Share = ShareAuto an evaluation notices such repeated trailing columns and, when that
// saves enough work, evaluates on a compact copy that holds them once per
// run of equal rows, doing their products with θ and with the residuals once
// per run.
//
// A Dataset can also keep such columns factored (NewFactoredDataset): each
// row's are the sum of a list of basis vectors (the components the
// KnowledgeState sums), kept as a trie of the rows' lists. An evaluation
// then takes θ's product with each basis vector once and one addition per
// trie node, which is cheaper when few vectors are shared by many rows and
// consecutive lists share their prefixes.
//
// The penalty need not be guessed. Penalty.Tail gives the last features
// (the KnowledgeState) their own penalty, TailL2, +Inf to leave them out.
// SelectL2 chooses one penalty from a grid by K-fold cross-validation on
// the rows, with folds that keep a student's run of rows together, and
// FitAuto chooses both for the knowledge model: L2 on the 6-feature model,
// then the KnowledgeState's, which enters the model only if validation
// finds it better than the 6-feature model by more than a standard error.
//
// This package knows nothing of Beam, files or any cloud service.
package train
