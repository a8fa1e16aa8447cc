package train

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// defaultL2Grid is DefaultL2Grid's value; see there.
var defaultL2Grid = []float64{1, 0.1, 0.01, 1e-3, 1e-4, 1e-5, 1e-6}

// DefaultL2Grid returns the L2 values SelectL2 tries when L2Selection.Grid
// is empty: the decades from 1 down to 1e-6.
//
// The objective's penalty (l2/2)·‖θ[1:]‖² beside a mean loss is a Gaussian
// prior θ_j ~ N(0, 1/(N·l2)) on N rows. Coefficients worth keeping are of
// size 0.1 to 3 (the KnowledgeState features are sums of unit random
// vectors, so each is O(1) for a student with a few exercises; the
// ExerciseState features are O(1) too), and an exercise has 100 to 200,000
// rows: 1/(N·σ²) then spans about 1e-6 (200,000 rows, σ = 3) to 1 (100
// rows, σ = 0.1).
func DefaultL2Grid() []float64 { return slices.Clone(defaultL2Grid) }

// L2Selection says how SelectL2 chooses the L2 strength: which values to
// try and how to validate them. The zero value is usable: every field has a
// default.
type L2Selection struct {
	// Grid holds the L2 values to try, each non-negative, finite (but see
	// Tail) and distinct, in any order: they are tried from the largest
	// down. Empty means DefaultL2Grid.
	Grid []float64

	// Folds is the number K of cross-validation folds; 0 means 5. It must
	// not be 1 or negative.
	Folds int

	// Group, if positive, keeps together in one fold every run of
	// consecutive rows whose last Group features are equal (bit for bit).
	// With the knowledge model's rows, Group = 100 (the KnowledgeState)
	// keeps a student's consecutive answers on the exercise in one fold, so
	// that validation rows come from other students' sessions, as the rows
	// the model predicts in production do. Dealt one row at a time, the
	// validation rows would have near copies in the training folds, which
	// favours too small an L2. Runs (or rows, if Group is 0) are dealt to
	// the folds in turn: run r goes to fold r mod K. Group must not exceed
	// the dimension minus 1.
	Group int

	// MinFoldRows is the fewest rows a fold may hold; 0 means 10. A Dataset
	// too small to give every fold that many rows is not validated: the
	// largest value of the grid is chosen (see L2Choice.Fallback).
	MinFoldRows int

	// Tail chooses Penalty.TailL2, the penalty of the last Penalty.Tail
	// features, rather than Penalty.L2, which then stays as given. The
	// grid may then hold +Inf, which leaves those features out: in the
	// knowledge model, the 6-feature model without the KnowledgeState is
	// then a candidate, so the selected model scores at least as well as it
	// in validation.
	Tail bool

	// OneStdErr chooses, rather than the value with the best score, the
	// largest value whose score is within one standard error of the best
	// (the "one-standard-error rule" of Breiman et al. and of Hastie,
	// Tibshirani & Friedman, ESL §7.10), the error being that of the best
	// value's mean over the folds, sd(fold scores)/√K. It prefers the
	// simpler model when the folds cannot tell them apart, which matters
	// when validation rows are not as independent of the training rows as
	// new data is: in the knowledge model, other rows of the same students.
	OneStdErr bool

	// TailBest makes FitAuto admit the tail by the best validation score
	// instead of the one-standard-error rule: for tail features shared
	// widely enough across rows that validation on other rows of the same
	// groups is not optimistic.
	TailBest bool

	// Patience stops the search once this many consecutive grid values
	// after the best one so far scored no better than it; 0 means 2, and a
	// negative Patience scores the whole grid. The held-out score of L2 is
	// nearly always unimodal, and the small values, which come last, are
	// the slow fits.
	Patience int

	// FoldTolerance replaces Settings.FunctionTolerance in the fold fits
	// (not in the final fit), as a validation score needs far less
	// precision than the model; 0 means 1e-8, and a negative value keeps
	// Settings.FunctionTolerance.
	FoldTolerance float64
}

// L2Choice is the outcome of SelectL2.
type L2Choice struct {
	// L2 is the chosen strength.
	L2 float64
	// Grid holds the values of the grid from the largest down, and Scores
	// the score of each: the mean held-out log-likelihood per row (≤ 0,
	// larger is better) over the K folds. A score is NaN for a value not
	// tried (the search stopped early, or Fallback) and -Inf for one whose
	// fit failed in some fold.
	Grid, Scores []float64
	// StdErrs holds the standard error of each score: the standard
	// deviation of the folds' mean held-out log-likelihoods over √K.
	StdErrs []float64
	// Fallback, if not empty, says why no validation was done; L2 is then
	// the largest value of the grid.
	Fallback string
	// Folds is the number of folds and Groups the number of runs of rows
	// dealt to them (the rows, if L2Selection.Group is 0).
	Folds, Groups int
	// Fits and Evaluations count the fold fits done and their evaluations
	// of the objective.
	Fits, Evaluations int
	// Duration is the wall time of the selection.
	Duration time.Duration
}

// Score returns the validation score of the chosen L2: the mean held-out
// log-likelihood per row, NaN without validation (Fallback).
func (c L2Choice) Score() float64 {
	if i := c.chosen(); i >= 0 {
		return c.Scores[i]
	}
	return math.NaN()
}

// StdErr returns the standard error of Score, NaN without validation.
func (c L2Choice) StdErr() float64 {
	if i := c.chosen(); i >= 0 && i < len(c.StdErrs) {
		return c.StdErrs[i]
	}
	return math.NaN()
}

func (c L2Choice) chosen() int {
	if c.Fallback != "" {
		return -1
	}
	return slices.Index(c.Grid, c.L2)
}

// SelectL2 chooses the L2 strength of Fit for o from sel.Grid by K-fold
// cross-validation: for each value, from the largest down, it fits the
// model on every K-1 folds with the settings s (the penalty aside) and
// scores the fitted θ by the log-likelihood of the held-out fold's rows,
// summed over the folds and divided by the number of rows. It chooses the
// value with the best score, on a tie the larger, or by the one-standard-
// error rule (sel.OneStdErr). With sel.Tail the value chosen is that of
// o.TailL2 rather than o.L2. The folds are those of the whole rows even
// when a value leaves the tail features out.
//
// The folds depend only on the order and content of o.Data's rows (see
// L2Selection.Group), and each fold's fits only on its rows, so the choice
// and the scores are the same bit for bit whatever o.Workers is. The cost
// is kept down four ways: each fold's fit starts from its θ for the
// previous (larger) value, so most take a few iterations; the fold fits
// stop at a looser tolerance (sel.FoldTolerance); the search stops once the
// score has been falling for sel.Patience values; and with o.Workers > 1
// the folds are fitted concurrently, which small Datasets, whose rows are
// too few to split, need. The rows are copied once, grouped by fold and
// twice over, so that each fold's training rows are one contiguous range:
// memory is twice the Dataset's (once more without the tail if the grid
// holds +Inf) plus what o.Share keeps per fold.
//
// SelectL2 returns an error for what Fit rejects (no rows or a
// non-finite feature; o or s invalid but for the penalty chosen) and an invalid
// sel. A fold fit that fails is not an error: that value scores -Inf; if
// every value does, the largest is chosen with a Fallback.
func SelectL2(o *Objective, s Settings, sel L2Selection) (L2Choice, error) {
	start := time.Now()
	cv, err := newCrossValidation(o, s, sel)
	if err != nil {
		return L2Choice{}, err
	}
	d, grid, k := o.Data, cv.grid, cv.k
	c := L2Choice{L2: grid[0], Grid: grid, Scores: make([]float64, len(grid)), StdErrs: make([]float64, len(grid)), Folds: k}
	for i := range c.Scores {
		c.Scores[i], c.StdErrs[i] = math.NaN(), math.NaN()
	}
	fold, groups := assignFolds(d, k, sel.Group)
	c.Groups = groups
	sizes := make([]int, k+1) // sizes[f+1]: rows of fold f; then the start of each fold
	for _, f := range fold {
		sizes[f+1]++
	}
	if smallest := slices.Min(sizes[1:]); smallest < cv.minRows {
		c.Fallback = fmt.Sprintf("%d rows in %d groups: a fold of %d would hold %d rows, fewer than %d",
			d.Len(), groups, k, smallest, cv.minRows)
		c.Duration = time.Since(start)
		return c, nil
	}
	for f := 1; f <= k; f++ {
		sizes[f] += sizes[f-1]
	}
	cv.split(fold, sizes)

	best, worse, bestAt := math.Inf(-1), 0, 0
	for i, v := range grid {
		score, se := cv.score(cv.penalty(v))
		c.Fits += k
		c.Scores[i], c.StdErrs[i] = score, se
		if score > best {
			best, worse, bestAt = score, 0, i
		} else if worse++; cv.patience > 0 && worse >= cv.patience {
			break
		}
	}
	c.L2 = grid[bestAt]
	if sel.OneStdErr && !math.IsInf(best, -1) {
		for i := range bestAt {
			if c.Scores[i] >= best-c.StdErrs[bestAt] {
				c.L2 = grid[i]
				break
			}
		}
	}
	for _, e := range cv.evals {
		c.Evaluations += e
	}
	if math.IsInf(best, -1) {
		c.Fallback = "every fold fit failed"
	}
	c.Duration = time.Since(start)
	return c, nil
}

// crossValidation is SelectL2's work: the selection's settled parameters,
// the folds' copies of the rows and their objectives, and each fold's θ
// for the last value scored, which the next value's fits start from.
type crossValidation struct {
	o                    *Objective
	sel                  L2Selection
	grid                 []float64
	k, minRows, patience int
	fold                 Settings        // the fold fits' stopping rules
	workers              int             // goroutines the folds are fitted on
	train, held          [2][]*Dataset   // [0]: whole rows; [1]: without the tail
	objs                 [2][]*Objective // the fits of train
	thetas               [][]float64     // each fold's θ for the previous value
	nll                  []float64       // each fold's held-out loss sum
	evals                []int
}

// newCrossValidation checks o, s and sel as SelectL2 documents and settles
// sel's defaults.
func newCrossValidation(o *Objective, s Settings, sel L2Selection) (*crossValidation, error) {
	grid, err := sel.grid()
	if err != nil {
		return nil, err
	}
	if o == nil || o.Data == nil {
		return nil, errors.New("train: nil dataset")
	}
	cv := &crossValidation{o: o, sel: sel, grid: grid, k: sel.Folds, minRows: sel.MinFoldRows, patience: sel.Patience, fold: s}
	if sel.Tail && o.Tail <= 0 {
		return nil, errors.New("train: L2Selection.Tail needs a positive Penalty.Tail")
	}
	if err := cv.penalty(grid[0]).check(o.Data); err != nil {
		return nil, err
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	switch tol := sel.FoldTolerance; {
	case tol == 0:
		cv.fold.FunctionTolerance = 1e-8
	case tol > 0 && !math.IsInf(tol, 1):
		cv.fold.FunctionTolerance = tol
	case !(tol < 0):
		return nil, fmt.Errorf("train: invalid FoldTolerance %v", tol)
	}
	switch {
	case cv.k == 0:
		cv.k = 5
	case cv.k < 2:
		return nil, fmt.Errorf("train: %d folds: at least 2 are needed", cv.k)
	}
	switch {
	case cv.minRows == 0:
		cv.minRows = 10
	case cv.minRows < 0:
		return nil, fmt.Errorf("train: negative MinFoldRows %d", cv.minRows)
	}
	if cv.patience == 0 {
		cv.patience = 2
	}
	if sel.Group < 0 || sel.Group >= o.Data.dim {
		return nil, fmt.Errorf("train: Group %d outside [0, %d]", sel.Group, o.Data.dim-1)
	}
	return cv, nil
}

// penalty returns o's penalty with the value v chosen.
func (cv *crossValidation) penalty(v float64) Penalty {
	p := cv.o.Penalty
	if cv.sel.Tail {
		p.TailL2 = v
	} else {
		p.L2 = v
	}
	return p
}

// split copies the rows by fold (fold[i] is row i's; fold f's rows start at
// start[f]) and makes the folds' objectives. The values that leave the
// tail out are fitted on copies of the rows without it, the others on
// copies of the whole rows. The folds are fitted on cv.workers goroutines,
// each fit on the rest of the workers; neither changes a result.
func (cv *crossValidation) split(fold, start []int) {
	d, k := cv.o.Data, cv.k
	for _, v := range cv.grid {
		if kind := b2i(cv.penalty(v).dropsTail()); cv.train[kind] == nil {
			cols := d.dim
			if kind == 1 {
				cols -= cv.o.Tail
			}
			cv.train[kind], cv.held[kind] = foldViews(d, cols, fold, start)
		}
	}
	cv.workers = min(max(cv.o.Workers, 1), k)
	for kind := range cv.objs {
		if cv.train[kind] != nil {
			cv.objs[kind] = make([]*Objective, k)
			for f := range k {
				cv.objs[kind][f] = &Objective{Data: cv.train[kind][f], Workers: max(cv.o.Workers/cv.workers, 1), Share: cv.o.Share}
			}
		}
	}
	cv.thetas, cv.nll, cv.evals = make([][]float64, k), make([]float64, k), make([]int, k)
}

// score fits every fold with penalty p, each from its θ for the previous
// value, and returns the mean held-out log-likelihood per row (-Inf if a
// fit failed) and its standard error.
func (cv *crossValidation) score(p Penalty) (score, stdErr float64) {
	k := cv.k
	kind := b2i(p.dropsTail())
	var wg sync.WaitGroup
	for w := range cv.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := w; f < k; f += cv.workers {
				fo := cv.objs[kind][f]
				fo.L2 = p.L2
				if kind == 0 && p.Tail > 0 {
					fo.Tail, fo.TailL2 = p.Tail, p.TailL2
				}
				// Start from the previous value's θ (fitFrom pads it with
				// zeros if it lacked the tail).
				r, err := fitFrom(fo, cv.fold, cv.thetas[f], time.Now())
				cv.evals[f] += r.Evaluations
				if err != nil {
					cv.thetas[f], cv.nll[f] = nil, math.Inf(1)
					continue
				}
				held := cv.held[kind][f]
				cv.thetas[f] = r.Thetas
				cv.nll[f] = LogLoss(r.Thetas, held) * float64(held.Len())
			}
		}()
	}
	wg.Wait()
	sum := 0.0
	for _, v := range cv.nll {
		sum += v
	}
	score = -sum / float64(cv.o.Data.Len())
	if math.IsNaN(score) {
		score = math.Inf(-1)
	}
	return score, foldStdErr(cv.nll, cv.held[kind])
}

// FitAutoL2 chooses the L2 strength with SelectL2 and fits o with it, as
// Fit would with the choice in o's Penalty: the Result does not depend on
// the selection's fits.
func FitAutoL2(o *Objective, s Settings, sel L2Selection) (Result, L2Choice, error) {
	c, err := SelectL2(o, s, sel)
	if err != nil {
		return Result{Status: Failed, Loss: math.NaN()}, c, err
	}
	p := o.Penalty
	if sel.Tail {
		p.TailL2 = c.L2
	} else {
		p.L2 = c.L2
	}
	r, err := Fit(o.with(p), s)
	return r, c, err
}

// with returns an Objective of o's Data, workers and sharing with the
// penalty p.
func (o *Objective) with(p Penalty) *Objective {
	return &Objective{Data: o.Data, Penalty: p, Workers: o.Workers, Share: o.Share}
}

// AutoFit is the outcome of FitAuto.
type AutoFit struct {
	// Result is the fit of the Dataset with both penalties chosen.
	Result Result
	// Baseline is the fit without the tail features (their thetas 0) with
	// the L2 chosen for it: with the knowledge model's rows, the 6-feature
	// model of bias and ExerciseState.
	Baseline Result
	// Head chose Penalty.L2, for the model without the tail. Tail chose
	// Penalty.TailL2 with that L2; +Inf means the tail is left out, and
	// Result is then Baseline.
	Head, Tail L2Choice
}

// FitAuto chooses both penalties of o and fits o with them, in two
// steps, each a SelectL2 with the folds of sel:
//
//  1. L2, for the model without the last o.Tail features, with sel's rule;
//  2. TailL2, with that L2, among +Inf (the tail left out: the model of
//     step 1) and the finite values of sel's grid, by the one-standard-
//     error rule whatever sel.OneStdErr says (unless sel.TailBest): the
//     tail enters the model only if validation finds it better than
//     leaving it out by more than the folds' disagreement.
//
// The tail's penalty is chosen apart from the others' because one penalty
// for all may not serve both: many noisy tail features can need a penalty
// that shrinks the others too much. And it takes the one-standard-error
// rule because the folds share groups: features that nearly identify a
// group gain a little in validation what they lose on new groups.
//
// FitAuto needs o.Tail > 0; it ignores o.TailL2 and o.L2. Its Result is
// that of Fit with o.L2 and o.TailL2 set to the choices, whatever
// o.Workers is.
func FitAuto(o *Objective, s Settings, sel L2Selection) (AutoFit, error) {
	var a AutoFit
	if o == nil || o.Tail <= 0 {
		return a, errors.New("train: FitAuto needs a positive Penalty.Tail")
	}
	grid := DefaultL2Grid()
	if len(sel.Grid) > 0 {
		grid = grid[:0]
		for _, v := range sel.Grid {
			if !math.IsInf(v, 1) {
				grid = append(grid, v)
			}
		}
	}
	head := sel
	head.Tail, head.Grid = false, grid
	base := o.Penalty
	base.TailL2 = math.Inf(1)
	var err error
	if a.Head, err = SelectL2(o.with(base), s, head); err != nil {
		return a, err
	}
	base.L2 = a.Head.L2
	if a.Baseline, err = Fit(o.with(base), s); err != nil {
		return a, err
	}
	tail := sel
	tail.Tail, tail.OneStdErr = true, !sel.TailBest
	tail.Grid = append([]float64{math.Inf(1)}, grid...)
	p := o.Penalty
	p.L2 = a.Head.L2
	if a.Tail, err = SelectL2(o.with(p), s, tail); err != nil {
		return a, err
	}
	p.TailL2 = a.Tail.L2
	if math.IsInf(p.TailL2, 1) {
		a.Result = a.Baseline
		a.Result.Thetas = slices.Clone(a.Baseline.Thetas)
		return a, nil
	}
	a.Result, err = Fit(o.with(p), s)
	return a, err
}

// grid returns the values to try, from the largest down, or an error if
// one is invalid or repeated.
func (sel L2Selection) grid() ([]float64, error) {
	g := slices.Clone(sel.Grid)
	if len(g) == 0 {
		g = DefaultL2Grid()
	}
	for _, v := range g {
		if !(v >= 0) || (math.IsInf(v, 1) && !sel.Tail) {
			return nil, fmt.Errorf("train: invalid L2 %v in the grid", v)
		}
	}
	slices.SortFunc(g, func(a, b float64) int { return cmp.Compare(b, a) })
	for i := 1; i < len(g); i++ {
		if g[i] == g[i-1] {
			return nil, fmt.Errorf("train: L2 %v twice in the grid", g[i])
		}
	}
	return g, nil
}

// foldStdErr returns the standard error of the mean of the folds' mean
// held-out log-likelihoods, from their loss sums nll: +Inf if one is not
// finite.
func foldStdErr(nll []float64, held []*Dataset) float64 {
	k := float64(len(nll))
	mean, sq := 0.0, 0.0
	for f, v := range nll {
		mean += -v / float64(held[f].Len())
	}
	mean /= k
	for f, v := range nll {
		d := -v/float64(held[f].Len()) - mean
		sq += d * d
	}
	se := math.Sqrt(sq / (k - 1) / k)
	if math.IsNaN(se) {
		return math.Inf(1)
	}
	return se
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// assignFolds deals the rows of d to k folds: runs of consecutive rows whose
// last group features are equal (each row alone if group is 0) go to the
// folds in turn. It returns each row's fold and the number of runs.
func assignFolds(d *Dataset, k, group int) ([]int, int) {
	n, dim := d.Len(), d.dim
	fold := make([]int, n)
	r := -1
	var prev []byte
	for i := range n {
		switch {
		case group == 0:
			r++
		case d.tail != nil && group == d.tail.dim:
			// The same list of basis vectors: the same sum. Different
			// lists can still sum to the same bits ([a, b] and [b, a]).
			if i == 0 || d.tail.node[i] != d.tail.node[i-1] &&
				!bytes.Equal(asBytes(d.Row(i)[dim-group:]), asBytes(d.Row(i - 1)[dim-group:])) {
				r++
			}
		default:
			tail := asBytes(d.Row(i)[dim-group:])
			if i == 0 || !bytes.Equal(tail, prev) {
				r++
			}
			prev = tail
		}
		fold[i] = r % k
	}
	return fold, r + 1
}

// foldViews copies the first cols features of d's rows twice over, each
// copy ordered by fold (fold f's rows from start[f] to start[f+1], in their
// order in d), and returns for each fold f the Dataset of the other folds'
// rows, a contiguous range of the two copies (folds f+1 to k-1 of the
// first, 0 to f-1 of the second), and the Dataset of its own.
//
// Of a factored d, the whole rows stay factored: the copies are of the
// stored columns and of each row's node, the trie and the basis shared.
func foldViews(d *Dataset, cols int, fold, start []int) (train, held []*Dataset) {
	n, k := d.Len(), len(start)-1
	factored := d.tail != nil && cols == d.dim
	stored := min(cols, d.stored())
	if !factored {
		stored = cols
	}
	stride := pad4(stored)
	x := make([]float64, 2*n*stride)
	y := make([]float64, 2*n)
	var node []int32
	if factored {
		node = make([]int32, 2*n)
	}
	next := slices.Clone(start[:k])
	for i, f := range fold {
		var row []float64
		if stored <= d.stored() {
			row = d.head(i, stored)
		} else {
			row = d.Row(i)[:stored]
		}
		for c := 0; c < 2; c++ {
			j := c*n + next[f]
			copy(x[j*stride:], row)
			y[j] = d.y[i]
			if factored {
				node[j] = d.tail.node[i]
			}
		}
		next[f]++
	}
	view := func(lo, hi int) *Dataset {
		v := &Dataset{dim: cols, stride: stride, x: x[lo*stride : hi*stride : hi*stride], y: y[lo:hi:hi]}
		if factored {
			v.tail = d.tail.view(node[lo:hi:hi])
		}
		return v
	}
	train, held = make([]*Dataset, k), make([]*Dataset, k)
	for f := range k {
		train[f] = view(start[f+1], n+start[f])
		held[f] = view(start[f], start[f+1])
	}
	return train, held
}
