package train

import (
	"sync"

	"gonum.org/v1/gonum/floats"
)

// blockRows is the number of rows whose loss and gradient are summed into
// one partial sum. Partial sums are always added in block order, so a result
// does not depend on how many goroutines computed the blocks.
const blockRows = 512

// subRows is the number of rows handed to one pair of matrix-vector products
// inside a block: few enough that they are still in L1 cache for the
// gradient product after the value product has read them.
const subRows = 16

// Objective is the regularised logistic loss of a Dataset,
//
//	L(θ) = -(1/N) Σ_i (y_i ln p_i + (1-y_i) ln(1-p_i)) + (L2/2) Σ_{j≥1} θ_j²,
//
// where p_i = sigmoid(θ·x_i). The bias θ[0] is not penalised. This is the
// objective of the reference SciPy trainer. With Tail > 0 the last Tail
// features are penalised with TailL2 instead of L2.
//
// An Objective keeps scratch space between evaluations, so one Objective must
// not be evaluated from several goroutines at once. Its methods panic if the
// Dataset has no rows or len(theta) differs from the Dataset's dimension.
type Objective struct {
	// Data holds the rows. It must not change while the Objective is used.
	Data *Dataset
	// Penalty is the L2 penalty on θ[1:].
	Penalty
	// Workers is the number of goroutines an evaluation may split its rows
	// across; values below 2 evaluate on the calling goroutine. The result is
	// the same bit for bit whatever the number of workers.
	Workers int
	// Share, if not 0, lets the evaluation do the products for the last
	// columns of the rows once per run of consecutive rows in which those
	// columns are equal, rather than once per row. In the knowledge model
	// the KnowledgeState changes only when a student starts another
	// exercise, so one exercise's rows repeat it several times in a row.
	// A positive Share shares exactly that many columns; a negative Share
	// chooses how many from the data at the first evaluation, and none if
	// that would not save at least a fifth of the work. Sharing copies the
	// shared columns once per run (a fraction of the Dataset's size) for the
	// Objective's lifetime, and changes the order of some sums, so results
	// can differ from Share = 0 in the last bits. A factored Data
	// (NewFactoredDataset) shares its factored columns its own way and
	// ignores Share.
	Share int

	prepared  bool          // the layout below matches Data
	preparedN int           // Data.Len() when prepared
	runs      *sharedRuns   // nil: evaluate on Data's rows
	fact      *factoredEval // Data is factored
	theta     []float64     // θ padded to the stride; or its own and shared parts
	partial   []float64     // per block: loss sum, then the gradient sums
	scratch   []float64     // per worker: subRows scores, residuals and run sums
}

// Func returns L(θ).
func (o *Objective) Func(theta []float64) float64 {
	return o.eval(nil, theta)
}

// FuncGrad returns L(θ) and stores its gradient in grad, reading every row
// once: the row's contributions to the loss and to the gradient are computed
// while the row is in cache.
func (o *Objective) FuncGrad(grad, theta []float64) float64 {
	if len(grad) != len(theta) {
		panic("train: gradient length mismatch")
	}
	return o.eval(grad, theta)
}

func (o *Objective) eval(grad, theta []float64) float64 {
	d := o.Data
	n := d.Len()
	if n == 0 {
		panic("train: objective of an empty dataset")
	}
	if len(theta) != d.dim {
		panic("train: theta length mismatch")
	}
	if !o.prepared || o.preparedN != n {
		o.prepare()
	}
	ps := 1 + o.setTheta(theta) // partial sums per block
	nb := (n + blockRows - 1) / blockRows
	o.sumBlocks(nb, ps, grad != nil)
	// Reduce the blocks in order.
	loss := 0.0
	for b := 0; b < nb; b++ {
		loss += o.partial[b*ps]
	}
	if grad != nil {
		o.reduceGradient(grad, nb, ps)
	}
	return o.penalise(loss, grad, theta)
}

// setTheta lays θ out as the evaluation of the prepared layout reads it
// and returns the number of gradient sums a block has: for a factored
// Data the stored columns (the tail's products are taken once per trie
// node here), with shared runs the own and the shared columns' padded
// widths, otherwise the stride.
func (o *Objective) setTheta(theta []float64) int {
	d := o.Data
	switch sr, fe := o.runs, o.fact; {
	case fe != nil:
		copy(o.theta, theta[:d.stored()])
		fe.values(d.tail, theta[d.stored():])
	case sr != nil:
		copy(o.theta[:sr.ps], theta[:d.dim-sr.k])
		copy(o.theta[sr.ps:], theta[d.dim-sr.k:])
		return sr.ps + sr.ss
	default:
		copy(o.theta, theta)
	}
	return d.stride
}

// sumBlocks computes the partial sums of nb blocks of rows, ps a block
// (the loss, then the gradient's if withGrad), on up to Workers goroutines:
// worker w takes blocks w, w+workers, ...
func (o *Objective) sumBlocks(nb, ps int, withGrad bool) {
	d, sr, fe := o.Data, o.runs, o.fact
	n := d.Len()
	if len(o.partial) < nb*ps {
		o.partial = make([]float64, nb*ps)
	}
	workers := min(max(o.Workers, 1), nb)
	if len(o.scratch) < workers*3*subRows {
		o.scratch = make([]float64, workers*3*subRows)
	}
	var thOwn, thShared []float64
	if sr != nil {
		thOwn, thShared = o.theta[:sr.ps], o.theta[sr.ps:]
	}
	run := func(w int) {
		sc := o.scratch[w*3*subRows : (w+1)*3*subRows]
		z, r, u := sc[:subRows], sc[subRows:2*subRows], sc[2*subRows:]
		for b := w; b < nb; b += workers {
			lo, hi := b*blockRows, min((b+1)*blockRows, n)
			out := o.partial[b*ps : (b+1)*ps]
			switch {
			case fe != nil:
				o.factoredBlock(lo, hi, out, z, withGrad)
			case sr != nil:
				sr.block(d, lo, hi, out, thOwn, thShared, z, r, u, withGrad)
			default:
				o.block(lo, hi, out, z, r, withGrad)
			}
		}
	}
	if workers == 1 {
		run(0)
		return
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(w)
		}()
	}
	run(0)
	wg.Wait()
}

// reduceGradient sets grad to the sum of the blocks' gradient sums, in
// block order, in the columns of θ.
func (o *Objective) reduceGradient(grad []float64, nb, ps int) {
	d, sr, fe := o.Data, o.runs, o.fact
	dim := d.dim
	clear(grad)
	if fe != nil {
		own := d.stored()
		for b := 0; b < nb; b++ {
			floats.Add(grad[:own], o.partial[b*ps+1:b*ps+1+own])
		}
		fe.gradient(d.tail, grad[own:])
		return
	}
	// Where the gradient sums of block b are: own and shared columns.
	own, off := dim, 0
	if sr != nil {
		own, off = dim-sr.k, sr.ps-(dim-sr.k)
	}
	for b := 0; b < nb; b++ {
		p := o.partial[b*ps+1 : (b+1)*ps]
		floats.Add(grad[:own], p[:own])
		floats.Add(grad[own:], p[own+off:off+dim])
	}
}

// penalise turns the loss sum and, if grad is not nil, the gradient sum
// into the means over the rows plus the penalty's terms, and returns L(θ).
func (o *Objective) penalise(loss float64, grad, theta []float64) float64 {
	dim := o.Data.dim
	invN := 1 / float64(o.Data.Len())
	head := dim
	if o.Tail > 0 {
		head = dim - o.Tail
	}
	reg, tailReg := 0.0, 0.0
	for _, t := range theta[1:head] {
		reg += t * t
	}
	for _, t := range theta[head:] {
		tailReg += t * t
	}
	if grad != nil {
		floats.Scale(invN, grad)
		floats.AddScaled(grad[1:head], o.L2, theta[1:head])
		if head < dim {
			floats.AddScaled(grad[head:], o.TailL2, theta[head:])
		}
	}
	if head < dim {
		return loss*invN + 0.5*o.L2*reg + 0.5*o.TailL2*tailReg
	}
	return loss*invN + 0.5*o.L2*reg
}

// prepare chooses how to evaluate: on Data's rows as they are, or with
// their last columns once per run of equal values (see Share).
func (o *Objective) prepare() {
	d := o.Data
	o.runs, o.fact = nil, nil
	if d.tail != nil {
		o.fact = newFactoredEval(d.tail, d.Len())
		o.theta = make([]float64, d.stride)
	} else if k := chooseShared(d, o.Share); k > 0 {
		o.runs = newSharedRuns(d, k)
		o.theta = make([]float64, o.runs.ps+o.runs.ss)
	} else {
		o.theta = make([]float64, d.stride)
	}
	o.prepared, o.preparedN = true, d.Len()
}

// block computes the loss sum of rows [lo, hi) into out[0] and, if
// withGrad, their gradient sums into out[1:], using z and r as scratch.
func (o *Objective) block(lo, hi int, out, z, r []float64, withGrad bool) {
	d := o.Data
	stride := d.stride
	g := out[1:]
	clear(g)
	loss := 0.0
	for s := lo; s < hi; s += subRows {
		t := min(s+subRows, hi)
		a := d.x[s*stride : t*stride]
		zz, rr := z[:t-s], r[:t-s]
		gemvN(a, stride, o.theta, zz)
		loss += lossTerms(zz, d.y[s:t], rr)
		if withGrad {
			gemvT(a, stride, rr, g)
		}
	}
	out[0] = loss
}

// factoredBlock is block for a factored Data: the stored columns' products
// row by row, the tail's from the products of its nodes. The residuals are
// kept per row, for the tail's gradient.
func (o *Objective) factoredBlock(lo, hi int, out, z []float64, withGrad bool) {
	d, e := o.Data, o.fact
	stride, node := d.stride, d.tail.node
	g := out[1:]
	clear(g)
	loss := 0.0
	for a := lo; a < hi; a += subRows {
		b := min(a+subRows, hi)
		own := d.x[a*stride : b*stride]
		zz, rr := z[:b-a], e.r[a:b]
		gemvN(own, stride, o.theta, zz)
		for i, n := range node[a:b] {
			zz[i] += e.val[n]
		}
		loss += lossTerms(zz, d.y[a:b], rr)
		if withGrad {
			gemvT(own, stride, rr, g)
		}
	}
	out[0] = loss
}
