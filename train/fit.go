package train

import (
	"errors"
	"fmt"
	"math"
	"time"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/optimize"
)

// Penalty is the L2 regularisation of an Objective: L2 on every θ but the
// bias, or on the last Tail features TailL2 instead.
type Penalty struct {
	// L2 is the strength of the penalty on every θ but the bias (and the
	// tail's). It must be finite and non-negative.
	L2 float64

	// Tail, if positive, is the number of trailing features penalised with
	// TailL2 instead of L2; in the knowledge model the 100 KnowledgeState
	// features, which are many and noisy beside the six ExerciseState ones.
	// It must be less than the Dataset's dimension.
	Tail int

	// TailL2 is the strength of the penalty on the last Tail features. It
	// must be non-negative; +Inf leaves those features out of the model:
	// Fit then fits the others alone and reports 0 for their thetas. With
	// the knowledge model's rows, Tail = 100 and TailL2 = +Inf fit the
	// "no knowledge" model of bias and ExerciseState. An Objective
	// evaluated directly needs a finite TailL2.
	TailL2 float64
}

// DefaultL2 is the L2 strength of the reference SciPy trainer.
const DefaultL2 = 1e-3

// ShareAuto is the Objective.Share that shares the trailing columns that
// consecutive rows repeat when that saves enough work.
const ShareAuto = -1

// Settings are the stopping rules of Fit and the memory of its L-BFGS.
// Start from DefaultSettings: in the zero value every stopping rule is off,
// and Fit stops only when the line search can make no more progress.
type Settings struct {
	// MaxIterations is the largest number of L-BFGS iterations (line
	// searches). Zero means no limit; it must not be negative.
	MaxIterations int

	// GradientTolerance stops the optimisation with GradientConverged when
	// the infinity norm of the gradient falls below it, like the pgtol of
	// SciPy's fmin_l_bfgs_b. Zero disables the test.
	GradientTolerance float64

	// FunctionTolerance stops the optimisation with FunctionConverged when an
	// iteration decreases the loss by at most
	// FunctionTolerance·max(|f_old|, |f_new|, 1), like factr·eps in
	// fmin_l_bfgs_b. Zero disables the test.
	FunctionTolerance float64

	// MaxEvaluations is the largest number of evaluations of the objective
	// and its gradient, like the maxfun of fmin_l_bfgs_b. Zero means no
	// limit; it must not be negative.
	MaxEvaluations int

	// Store is the number of correction pairs L-BFGS keeps (the m of
	// L-BFGS-B). Zero means 10.
	Store int
}

// DefaultSettings returns the stopping rules of the reference SciPy
// trainer: at most 1000 iterations (maxiter) and 15000 evaluations
// (maxfun), gradient tolerance 1e-6 (pgtol), function tolerance 10·ε
// (factr=10) and 10 correction pairs (m=10).
func DefaultSettings() Settings {
	return Settings{
		MaxIterations:     1000,
		MaxEvaluations:    15000,
		GradientTolerance: 1e-6,
		FunctionTolerance: 10 * epsilon,
		Store:             10,
	}
}

// epsilon is the machine epsilon of float64, as numpy reports it.
const epsilon = 0x1p-52

// Status says why Fit stopped.
type Status int

const (
	// NotTerminated means the optimisation has not run or not stopped.
	NotTerminated Status = iota
	// GradientConverged means the gradient's infinity norm fell below
	// Settings.GradientTolerance.
	GradientConverged
	// FunctionConverged means an iteration no longer decreased the loss by
	// more than Settings.FunctionTolerance (relative).
	FunctionConverged
	// IterationLimit means Settings.MaxIterations iterations were done.
	IterationLimit
	// EvaluationLimit means Settings.MaxEvaluations evaluations were done.
	EvaluationLimit
	// LineSearchFailed means the line search could not find a step that
	// decreases the loss enough, which happens when the loss is flat to
	// rounding error. The result holds the best point found.
	LineSearchFailed
	// Failed means the optimisation could not run or produced a non-finite
	// value; Fit returns an error with it.
	Failed
)

var statusNames = [...]string{
	NotTerminated:     "NotTerminated",
	GradientConverged: "GradientConverged",
	FunctionConverged: "FunctionConverged",
	IterationLimit:    "IterationLimit",
	EvaluationLimit:   "EvaluationLimit",
	LineSearchFailed:  "LineSearchFailed",
	Failed:            "Failed",
}

// String returns the name of the status.
func (s Status) String() string {
	if s >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Result is the outcome of Fit.
type Result struct {
	// Thetas are the fitted parameters, Thetas[0] the bias.
	Thetas []float64
	// Loss is the objective at Thetas.
	Loss float64
	// Iterations is the number of L-BFGS iterations (line searches) done,
	// counted like the nit of fmin_l_bfgs_b.
	Iterations int
	// Evaluations is the number of evaluations of the objective and its
	// gradient.
	Evaluations int
	// Status says why the optimisation stopped.
	Status Status
	// Duration is the wall time of the optimisation.
	Duration time.Duration
}

// Converged reports whether the optimisation stopped because it met one of
// its convergence tests (gradient or function tolerance).
func (r Result) Converged() bool {
	return r.Status == GradientConverged || r.Status == FunctionConverged
}

// ErrNoRows is returned by Fit for a dataset without rows.
var ErrNoRows = errors.New("train: dataset has no rows")

// Fit minimises o with the stopping rules of s, starting from θ = 0, with
// gonum's L-BFGS and a Moré–Thuente line search that has the constants of
// L-BFGS-B (sufficient decrease 1e-3, curvature 0.9). A TailL2 of +Inf
// fits the features before the tail alone (o.Data.Columns) and reports 0
// for the tail's thetas.
//
// Fit returns an error, and a Result with status Failed, if o's Data is
// nil or empty or has a non-finite feature, its Penalty or s is invalid,
// or the optimisation meets a non-finite loss or gradient (which finite
// features make possible only if θ·x overflows). Stopping at an iteration
// or evaluation limit or because of a failed line search is not an error:
// the Result then holds the best point found and Converged reports false.
func Fit(o *Objective, s Settings) (Result, error) {
	start := time.Now()
	if err := checkFit(o, s); err != nil {
		return failed(start, err)
	}
	fit := o
	if o.Penalty.dropsTail() {
		fit = o.withoutTail()
	}
	r, err := fitFrom(fit, s, nil, start)
	if d := o.Data; fit != o && len(r.Thetas) == fit.Data.dim {
		r.Thetas = append(r.Thetas, make([]float64, d.dim-fit.Data.dim)...)
	}
	return r, err
}

// dropsTail reports whether p leaves the tail features out of the model.
func (p Penalty) dropsTail() bool { return p.Tail > 0 && math.IsInf(p.TailL2, 1) }

// withoutTail returns the Objective of o's features before its tail, with
// o's L2, workers and sharing.
func (o *Objective) withoutTail() *Objective {
	return &Objective{Data: o.Data.Columns(o.Data.dim - o.Tail), Penalty: Penalty{L2: o.L2}, Workers: o.Workers, Share: o.Share}
}

// failed is the Result of a fit that could not run.
func failed(start time.Time, err error) (Result, error) {
	return Result{Status: Failed, Loss: math.NaN(), Duration: time.Since(start)}, err
}

// checkFit returns the error Fit reports for o and s before it starts, nil
// if they can be fitted.
func checkFit(o *Objective, s Settings) error {
	if o == nil || o.Data == nil {
		return errors.New("train: nil dataset")
	}
	if err := o.Penalty.check(o.Data); err != nil {
		return err
	}
	return s.check()
}

// check returns the error of a penalty that cannot be fitted on d.
func (p Penalty) check(d *Dataset) error {
	switch {
	case d.Len() == 0:
		return ErrNoRows
	case !(p.L2 >= 0) || math.IsInf(p.L2, 1):
		return fmt.Errorf("train: invalid L2 %v", p.L2)
	case p.Tail < 0 || p.Tail >= d.dim:
		return fmt.Errorf("train: Tail %d outside [0, %d]", p.Tail, d.dim-1)
	case p.Tail > 0 && !(p.TailL2 >= 0):
		return fmt.Errorf("train: invalid TailL2 %v", p.TailL2)
	}
	return d.Validate()
}

// check returns the error of invalid stopping rules.
func (s Settings) check() error {
	switch {
	case s.MaxIterations < 0:
		return fmt.Errorf("train: negative MaxIterations %d", s.MaxIterations)
	case s.MaxEvaluations < 0:
		return fmt.Errorf("train: negative MaxEvaluations %d", s.MaxEvaluations)
	case !(s.GradientTolerance >= 0):
		return fmt.Errorf("train: invalid GradientTolerance %v", s.GradientTolerance)
	case !(s.FunctionTolerance >= 0):
		return fmt.Errorf("train: invalid FunctionTolerance %v", s.FunctionTolerance)
	case s.Store < 0:
		return fmt.Errorf("train: negative Store %d", s.Store)
	}
	return nil
}

// fitFrom minimises o, which with s checkFit has accepted and whose
// TailL2 is finite, with the stopping rules of s, starting from x0 (nil is θ = 0; a shorter x0 is padded with zeros).
// start is when the fit began, for Result.Duration.
func fitFrom(o *Objective, s Settings, x0 []float64, start time.Time) (Result, error) {
	store := s.Store
	if store == 0 {
		store = 10
	}
	p := newProblem(o)
	settings := &optimize.Settings{
		GradientThreshold: s.GradientTolerance,
		Converger:         &relativeReduction{tol: s.FunctionTolerance},
		FuncEvaluations:   s.MaxEvaluations,
	}
	if s.MaxIterations > 0 {
		// gonum counts the starting point as a major iteration.
		settings.MajorIterations = s.MaxIterations + 1
	}
	method := &optimize.LBFGS{
		Store: store,
		Linesearcher: &optimize.MoreThuente{
			DecreaseFactor:  1e-3,
			CurvatureFactor: 0.9,
		},
		// Stopping on the gradient is left to settings.GradientThreshold.
		GradStopThreshold: math.NaN(),
	}
	init := make([]float64, o.Data.dim)
	copy(init, x0) // a shorter x0 is padded with zeros, a longer one cut
	res, err := optimize.Minimize(optimize.Problem{Func: p.Func, Grad: p.Grad, Status: p.Status},
		init, settings, method)
	if res == nil {
		return failed(start, fmt.Errorf("train: %w", err))
	}
	r := Result{
		Thetas:      res.X,
		Loss:        res.F,
		Iterations:  max(res.MajorIterations-1, 0),
		Evaluations: res.FuncEvaluations,
		Duration:    time.Since(start),
	}
	switch {
	case p.err != nil:
		r.Status, err = Failed, p.err
	case err != nil && (errors.Is(err, optimize.ErrLinesearcherFailure) ||
		errors.Is(err, optimize.ErrNoProgress) ||
		errors.Is(err, optimize.ErrLinesearcherBound) ||
		errors.Is(err, optimize.ErrNonDescentDirection)):
		r.Status, err = LineSearchFailed, nil
	case err != nil:
		r.Status, err = Failed, fmt.Errorf("train: %w", err)
	case res.Status == optimize.GradientThreshold:
		r.Status = GradientConverged
	case res.Status == optimize.FunctionConvergence:
		r.Status = FunctionConverged
	case res.Status == optimize.IterationLimit:
		r.Status = IterationLimit
	case res.Status == optimize.FunctionEvaluationLimit:
		r.Status = EvaluationLimit
	default:
		r.Status = Failed
		err = fmt.Errorf("train: optimisation stopped with status %v", res.Status)
	}
	if err == nil && (math.IsNaN(r.Loss) || math.IsInf(r.Loss, 0) || !finite(r.Thetas)) {
		r.Status = Failed
		err = fmt.Errorf("train: optimisation reached a non-finite loss %v", r.Loss)
	}
	if err != nil {
		r.Status = Failed
		return r, err
	}
	return r, nil
}

func finite(s []float64) bool {
	for _, v := range s {
		if v-v != 0 {
			return false
		}
	}
	return true
}

// problem adapts an Objective to optimize.Problem. gonum asks for the value
// and then the gradient at the same point; Func computes both in one pass
// and Grad returns the remembered gradient when asked at that point. Status
// stops the optimisation at the first non-finite loss or gradient, which
// the line search could otherwise chase forever.
type problem struct {
	obj   *Objective
	x, g  []float64
	valid bool
	evals int
	err   error
}

func newProblem(o *Objective) *problem {
	n := o.Data.dim
	return &problem{obj: o, x: make([]float64, n), g: make([]float64, n)}
}

func (p *problem) Func(x []float64) float64 {
	return p.eval(x)
}

func (p *problem) Grad(grad, x []float64) {
	if !p.valid || !floats.Equal(x, p.x) {
		p.eval(x)
	}
	copy(grad, p.g)
}

func (p *problem) eval(x []float64) float64 {
	f := p.obj.FuncGrad(p.g, x)
	copy(p.x, x)
	p.valid = true
	p.evals++
	if p.err == nil && (f-f != 0 || !finite(p.g)) {
		p.err = fmt.Errorf("train: non-finite loss %v or gradient at evaluation %d", f, p.evals)
	}
	return f
}

func (p *problem) Status() (optimize.Status, error) {
	if p.err != nil {
		return optimize.Failure, p.err
	}
	return optimize.NotTerminated, nil
}

// relativeReduction is the factr test of L-BFGS-B as an optimize.Converger:
// it reports convergence when an iteration decreases f by at most
// tol·max(|f_old|, |f_new|, 1).
type relativeReduction struct {
	tol   float64
	prev  float64
	first bool
}

func (c *relativeReduction) Init(int) { c.first = true }

func (c *relativeReduction) Converged(loc *optimize.Location) optimize.Status {
	f := loc.F
	if c.first || c.tol == 0 {
		c.first = false
		c.prev = f
		return optimize.NotTerminated
	}
	if c.prev-f <= c.tol*math.Max(math.Max(math.Abs(c.prev), math.Abs(f)), 1) {
		return optimize.FunctionConvergence
	}
	c.prev = f
	return optimize.NotTerminated
}
