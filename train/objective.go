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
// objective of the reference SciPy trainer.
//
// An Objective keeps scratch space between evaluations, so one Objective must
// not be evaluated from several goroutines at once. Its methods panic if the
// Dataset has no rows or len(theta) differs from the Dataset's dimension.
type Objective struct {
	// Data holds the rows. It must not change while the Objective is used.
	Data *Dataset
	// L2 is the strength of the L2 penalty on θ[1:].
	L2 float64
	// Workers is the number of goroutines an evaluation may split its rows
	// across; values below 2 evaluate on the calling goroutine. The result is
	// the same bit for bit whatever the number of workers.
	Workers int

	theta   []float64 // θ padded with zeros to the Dataset's stride
	partial []float64 // per block: loss sum, then stride gradient sums
	zr      []float64 // per worker: subRows scores, then subRows residuals
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
	n, dim, stride := d.Len(), d.dim, d.stride
	if n == 0 {
		panic("train: objective of an empty dataset")
	}
	if len(theta) != dim {
		panic("train: theta length mismatch")
	}
	nb := (n + blockRows - 1) / blockRows
	ps := 1 + stride // partial sums per block
	workers := min(max(o.Workers, 1), nb)
	if len(o.theta) != stride {
		o.theta = make([]float64, stride)
	}
	copy(o.theta, theta)
	if len(o.partial) < nb*ps {
		o.partial = make([]float64, nb*ps)
	}
	if len(o.zr) < workers*2*subRows {
		o.zr = make([]float64, workers*2*subRows)
	}
	withGrad := grad != nil
	run := func(w int) {
		zr := o.zr[w*2*subRows : (w+1)*2*subRows]
		for b := w; b < nb; b += workers {
			o.block(b, o.partial[b*ps:(b+1)*ps], zr[:subRows], zr[subRows:], withGrad)
		}
	}
	if workers == 1 {
		run(0)
	} else {
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

	// Reduce the blocks in order.
	loss := 0.0
	for b := 0; b < nb; b++ {
		loss += o.partial[b*ps]
	}
	invN := 1 / float64(n)
	reg := 0.0
	for _, t := range theta[1:] {
		reg += t * t
	}
	if withGrad {
		copy(grad, o.partial[1:1+dim])
		for b := 1; b < nb; b++ {
			floats.Add(grad, o.partial[b*ps+1:b*ps+1+dim])
		}
		floats.Scale(invN, grad)
		floats.AddScaled(grad[1:], o.L2, theta[1:])
	}
	return loss*invN + 0.5*o.L2*reg
}

// block computes the loss sum and, if withGrad, the gradient sum of the rows
// of block b into out[0] and out[1:], using z and r as scratch.
func (o *Objective) block(b int, out, z, r []float64, withGrad bool) {
	d := o.Data
	stride := d.stride
	lo := b * blockRows
	hi := min(lo+blockRows, d.Len())
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
