package synth

import (
	"errors"
	"math"
	"testing"
	"time"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/train"
)

// TestRecovery is the scientific check of the whole chain: logs drawn from
// planted thetas, replayed with features.Replay exactly as training replays
// them, and fitted with train.Fit, give back the planted thetas to within
// their statistical error.
//
// The tolerance is the asymptotic distribution of the maximum-likelihood
// estimate, not a guess. Each row's label is drawn from the model given
// everything before it, so the rows' scores form a martingale-difference
// sequence and, although rows of one student are dependent, the MLE is
// asymptotically normal with covariance H⁻¹/N, H the Hessian of the mean
// negative log-likelihood (the observed Fisher information per row; no
// sandwich correction is needed when the model is the true one). The same
// holds with students' choices (which exercise next, when to stop) depending
// on their answers: those choices depend only on the past. We compute H at
// the fit with gonum, invert it by Cholesky, and assert:
//
//   - every z_j = (θ̂_j − θ_j)/se_j, se_j = sqrt((H⁻¹)_jj/N), has |z_j| ≤ 4.5.
//     Each z_j is standard normal, and P(|z| > 4.5) = 6.8e-6, so across the
//     3×107 parameters a correct chain fails with probability about 0.2%,
//     while a bias of a fraction of a standard error in any theta, or a
//     feature computed differently in generation and replay, shows up;
//   - the joint statistic N(θ̂−θ)ᵀH(θ̂−θ), χ² with 107 degrees of freedom
//     per exercise (321 for the three), lies between its 1e-4 and 1-1e-4
//     quantiles: too large means bias, too small means the standard errors
//     are overstated, i.e. the tolerance above is looser than it claims;
//   - the tolerance has power: the Wald test of θ_KS = 0 rejects it far
//     beyond its 1-1e-4 quantile, so the planted effect of knowledge of
//     other exercises is resolved, not merely covered by wide errors;
//   - the mean |p̂−p| over the rows, fitted against planted probabilities, is
//     below 1.5 times the root-mean-square error the covariance predicts
//     (about 0.02 here; a mean absolute error is about 0.8 of it), and below
//     0.02 in absolute terms.
//
// Two other sources of error are bounded so that they cannot hide in the
// statistical one: the L2 penalty, a tiny 1e-6 whose first-order bias
// H⁻¹·l2·θ must be below 1% of every se, and the optimiser's stopping point,
// whose remaining Newton step H⁻¹·∇L must be below 5% of every se.
//
// Identifiability: the KnowledgeState of a row is a sum of components, one
// per exercise started before (and, from problem 2 on, including) the
// row's, drawn from 2 per (exercise, problem type). If those components
// spanned fewer than 100 dimensions, H would be singular and the thetas in
// the missing directions would be pinned by the penalty alone. The
// population therefore has 8 exercises × 24 problem types × 2 = 384
// components, so that they span R^100 and, with this many, no direction is
// much weaker than the average (the smallest singular value of k random unit
// vectors in R^100 grows like sqrt(k/100) − 1). The test asserts that the
// KnowledgeState block of H has its smallest eigenvalue at least 100 times
// the L2 strength, and all of H at least 20 times (the weakest directions of
// H are combinations of the strongly correlated ewma, streak and
// percent_correct features, not of the KnowledgeState), so that the penalty
// carries at most 5% of the curvature of any direction.
func TestRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("recovery fits take seconds")
	}
	const (
		// l2 is tiny so that the penalty's bias is negligible against the
		// standard errors (checked below: under 1% of every se).
		l2      = 1e-6
		kSigma  = 4.5
		chiTail = 1e-4
	)
	// Few exercises with many problem types: 384 components span R^100
	// (see above), and a large share of the logs falls on the three fitted
	// exercises. Every attempt is a row (features.AllProblems): whether an
	// attempt is in a window depends only on its past, so any window is
	// valid, and the widest needs the fewest logs. About 500,000 logs give
	// 40,000-75,000 rows per fitted exercise.
	c := DefaultConfig()
	c.Students = 9000
	c.Exercises = 8
	c.ProblemTypes = 24
	c.ExercisesPerStudent = 6
	c.Popularity = 0
	c.CurriculumSpread = 3
	c.Seed = 2014
	fit := []string{ExerciseName(3), ExerciseName(5), ExerciseName(7)}

	start := time.Now()
	g, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	planted := map[string][]float64{}
	for _, th := range g.Thetas() {
		planted[th.Exercise] = th.Thetas
	}
	data := map[string]*train.Dataset{}
	for _, e := range fit {
		data[e] = train.NewDataset(features.NumFeatures, 80000)
	}
	// Replay each student as training does, with a fresh components table
	// (the derived components are the ones generation used).
	comps, err := features.NewComponents(nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs []features.ProblemLog
	replay := func() {
		err := features.Replay(logs, comps, features.ReplayOptions{Window: features.AllProblems}, func(r *features.Row) {
			if d := data[r.Exercise]; d != nil {
				d.Add(r.X[:], r.Correct)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		logs = logs[:0]
	}
	st, err := g.Generate(func(l features.ProblemLog) error {
		if len(logs) > 0 && logs[0].User != l.User {
			replay()
		}
		logs = append(logs, l)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	replay()
	t.Logf("%d students, %d logs generated and replayed in %v", st.Students, st.Logs, time.Since(start).Round(time.Millisecond))

	s := train.DefaultSettings()
	s.MaxIterations = 5000
	var chi2Total float64
	for _, e := range fit {
		d := data[e]
		n := d.Len()
		truth := planted[e]
		res, err := train.Fit(&train.Objective{Data: d, Penalty: train.Penalty{L2: l2}, Workers: 2, Share: train.ShareAuto}, s)
		if err != nil {
			t.Fatalf("%s: %v", e, err)
		}
		if !res.Converged() {
			t.Errorf("%s: fit stopped with %v after %d iterations", e, res.Status, res.Iterations)
		}
		th := res.Thetas

		// The Hessian of the mean negative log-likelihood (without the
		// penalty) at the fit; θ̂'s covariance is H⁻¹/N.
		h := train.Hessian(d, th)
		lmin, err := minEigen(h)
		if err != nil {
			t.Fatalf("%s: %v", e, err)
		}
		ks := h.SliceSym(1+features.NumExerciseFeatures, features.NumFeatures).(*mat.SymDense)
		ksMin, err := minEigen(ks)
		if err != nil {
			t.Fatalf("%s: %v", e, err)
		}
		if lmin < 20*l2 {
			t.Errorf("%s: smallest Hessian eigenvalue %.3g < 20·l2: the penalty holds over 5%% of some direction's curvature", e, lmin)
		}
		if ksMin < 100*l2 {
			t.Errorf("%s: smallest eigenvalue of the KnowledgeState block %.3g < 100·l2: the components do not span R^100", e, ksMin)
		}
		var chol mat.Cholesky
		if !chol.Factorize(h) {
			t.Fatalf("%s: Hessian not positive definite", e)
		}
		var cov mat.SymDense // H⁻¹
		if err := chol.InverseTo(&cov); err != nil {
			t.Fatal(err)
		}
		se := make([]float64, features.NumFeatures)
		for j := range se {
			se[j] = math.Sqrt(cov.At(j, j) / float64(n))
		}

		// Penalty bias and optimiser error, against se.
		pen := make([]float64, features.NumFeatures)
		for j := 1; j < len(pen); j++ {
			pen[j] = l2 * truth[j]
		}
		grad := make([]float64, features.NumFeatures)
		(&train.Objective{Data: d, Penalty: train.Penalty{L2: l2}}).FuncGrad(grad, th)
		penBias, optErr := solve(&chol, pen), solve(&chol, grad)
		var maxPen, maxOpt float64
		for j := range se {
			maxPen = math.Max(maxPen, math.Abs(penBias[j])/se[j])
			maxOpt = math.Max(maxOpt, math.Abs(optErr[j])/se[j])
		}
		if maxPen > 0.01 {
			t.Errorf("%s: L2 bias reaches %.3g se", e, maxPen)
		}
		if maxOpt > 0.05 {
			t.Errorf("%s: optimiser stopped %.3g se from the optimum", e, maxOpt)
		}

		// Per-theta and joint errors.
		diff := make([]float64, features.NumFeatures)
		var maxZ float64
		worst := 0
		for j := range diff {
			diff[j] = th[j] - truth[j]
			if z := math.Abs(diff[j]) / se[j]; z > maxZ {
				maxZ, worst = z, j
			}
		}
		if maxZ > kSigma {
			t.Errorf("%s: %s fitted %.4f, planted %.4f: %.2f se off (limit %.1f)",
				e, features.FeatureNames[worst], th[worst], truth[worst], maxZ, kSigma)
		}
		dv := mat.NewVecDense(len(diff), diff)
		chi2 := float64(n) * mat.Inner(dv, h, dv)
		chi2Total += chi2
		dist := distuv.ChiSquared{K: features.NumFeatures}
		if lo, hi := dist.Quantile(chiTail), dist.Quantile(1-chiTail); chi2 < lo || chi2 > hi {
			t.Errorf("%s: χ²=%.1f outside [%.1f, %.1f] for %d degrees of freedom", e, chi2, lo, hi, features.NumFeatures)
		}

		// Power: the data must resolve the planted KnowledgeState effect.
		// The Wald statistic of θ_KS = 0, N θ̂_KSᵀ((H⁻¹)_KS)⁻¹θ̂_KS, χ² with
		// 100 degrees of freedom under that null, must reject it far beyond
		// its 1-1e-4 quantile: the tolerance above is tight enough to tell
		// the planted knowledge weights from none.
		ksOff := 1 + features.NumExerciseFeatures
		var ksChol mat.Cholesky
		if !ksChol.Factorize(cov.SliceSym(ksOff, features.NumFeatures)) {
			t.Fatalf("%s: KnowledgeState covariance not positive definite", e)
		}
		ksHat := th[ksOff:]
		wald := float64(n) * floats.Dot(ksHat, solve(&ksChol, ksHat))
		if q := (distuv.ChiSquared{K: features.KnowledgeDim}).Quantile(1 - chiTail); wald < 2*q {
			t.Errorf("%s: Wald χ² of θ_KS = 0 is %.1f, want ≥ 2×%.1f: the KnowledgeState weights are not resolved", e, wald, q)
		}

		// Probabilities on the rows: observed mean |p̂−p| against the
		// root-mean-square error predicted from the covariance.
		var absDiff, predMSE float64
		xv := mat.NewVecDense(features.NumFeatures, nil)
		for i := 0; i < n; i++ {
			x := d.Row(i)
			p := train.Predict(truth, x)
			absDiff += math.Abs(train.Predict(th, x) - p)
			w := p * (1 - p)
			copy(xv.RawVector().Data, x)
			predMSE += w * w * mat.Inner(xv, &cov, xv) / float64(n) // E[(p̂−p)²] ≈ (p(1−p))² xᵀ(H⁻¹/N)x
		}
		absDiff /= float64(n)
		predRMS := math.Sqrt(predMSE / float64(n)) // mean over the rows
		if absDiff > 1.5*predRMS || absDiff > 0.02 {
			t.Errorf("%s: mean |p̂−p| = %.4f, want ≤ 1.5×%.4f (predicted RMS) and ≤ 0.02", e, absDiff, predRMS)
		}
		t.Logf("%s: %d rows, %d iterations (%v), λmin(H)=%.2g (KS block %.2g), max|z|=%.2f (%s), χ²=%.1f (df %d), Wald(θ_KS=0)=%.0f, mean|p̂−p|=%.4f (predicted RMS %.4f), se range %.3g-%.3g, L2 bias ≤ %.1g se, optimiser error ≤ %.1g se",
			e, n, res.Iterations, res.Duration.Round(time.Millisecond), lmin, ksMin, maxZ, features.FeatureNames[worst], chi2, features.NumFeatures,
			wald, absDiff, predRMS, minOf(se), maxOf(se), maxPen, maxOpt)
	}
	df := float64(len(fit) * features.NumFeatures)
	dist := distuv.ChiSquared{K: df}
	if lo, hi := dist.Quantile(chiTail), dist.Quantile(1-chiTail); chi2Total < lo || chi2Total > hi {
		t.Errorf("joint χ²=%.1f outside [%.1f, %.1f] for %v degrees of freedom", chi2Total, lo, hi, df)
	}
	t.Logf("joint χ²=%.1f for %v degrees of freedom; total %v", chi2Total, df, time.Since(start).Round(time.Millisecond))
}

// minEigen returns the smallest eigenvalue of a symmetric matrix.
func minEigen(a mat.Symmetric) (float64, error) {
	var eig mat.EigenSym
	if !eig.Factorize(a, false) {
		return 0, errors.New("eigen-decomposition failed")
	}
	return eig.Values(nil)[0], nil
}

// solve returns H⁻¹b from H's Cholesky factorisation.
func solve(chol *mat.Cholesky, b []float64) []float64 {
	var x mat.VecDense
	if err := chol.SolveVecTo(&x, mat.NewVecDense(len(b), b)); err != nil {
		panic(err)
	}
	return x.RawVector().Data
}

func minOf(s []float64) float64 {
	m := math.Inf(1)
	for _, v := range s {
		m = math.Min(m, v)
	}
	return m
}

func maxOf(s []float64) float64 {
	m := math.Inf(-1)
	for _, v := range s {
		m = math.Max(m, v)
	}
	return m
}
