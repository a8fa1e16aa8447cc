package train

import "fmt"

// Dataset holds the training rows of one model: N feature vectors of a fixed
// dimension and their labels.
//
// The feature vectors are stored row-major in one contiguous slice, each row
// padded with zeros to a multiple of 4 values so that the kernels of an
// evaluation can work on whole vectors of four. Every feature vector
// includes the bias column, so x[0] is normally 1.
//
// The zero value is not usable; create a Dataset with NewDataset.
type Dataset struct {
	dim    int
	stride int       // dim rounded up to a multiple of 4
	x      []float64 // row-major, len(x) == Len()*stride
	y      []float64 // labels as 0 or 1

	bad error // the first non-finite feature added, if any
}

// NewDataset returns an empty Dataset for feature vectors of length dim, with
// room for capacity rows before it has to grow. NewDataset panics if dim is
// not positive or capacity is negative.
func NewDataset(dim, capacity int) *Dataset {
	if dim <= 0 {
		panic(fmt.Sprintf("train: non-positive dimension %d", dim))
	}
	if capacity < 0 {
		panic(fmt.Sprintf("train: negative capacity %d", capacity))
	}
	stride := (dim + 3) &^ 3
	return &Dataset{
		dim:    dim,
		stride: stride,
		x:      make([]float64, 0, stride*capacity),
		y:      make([]float64, 0, capacity),
	}
}

// Add appends one row: its feature vector x (copied; x[0] is the bias) and
// whether the answer was correct. Add panics if len(x) != Dim().
// Non-finite features are accepted here and reported by Validate and Fit.
func (d *Dataset) Add(x []float64, correct bool) {
	if len(x) != d.dim {
		panic(fmt.Sprintf("train: row has %d features, dataset has %d", len(x), d.dim))
	}
	if d.bad == nil {
		for j, v := range x {
			if v-v != 0 { // NaN or ±Inf
				d.bad = fmt.Errorf("train: row %d feature %d is %v", d.Len(), j, v)
				break
			}
		}
	}
	d.x = append(d.x, x...)
	for j := d.dim; j < d.stride; j++ {
		d.x = append(d.x, 0)
	}
	y := 0.0
	if correct {
		y = 1
	}
	d.y = append(d.y, y)
}

// Len returns the number of rows.
func (d *Dataset) Len() int { return len(d.y) }

// Dim returns the length of every feature vector, bias included.
func (d *Dataset) Dim() int { return d.dim }

// Row returns the feature vector of row i. The slice aliases the Dataset's
// storage and must not be modified.
func (d *Dataset) Row(i int) []float64 {
	return d.x[i*d.stride : i*d.stride+d.dim : i*d.stride+d.dim]
}

// Correct reports the label of row i.
func (d *Dataset) Correct(i int) bool { return d.y[i] == 1 }

// Validate returns an error naming the first row and feature that is NaN or
// infinite, or nil if every feature is finite.
func (d *Dataset) Validate() error { return d.bad }

// Columns returns a new Dataset holding the first n features of every row
// of d (the bias first) and the same labels: with the knowledge model's
// rows, Columns(7) is the "no knowledge" model's data, bias and
// ExerciseState without the KnowledgeState. The rows are copied, n values
// each. Columns panics if n is not between 1 and Dim().
func (d *Dataset) Columns(n int) *Dataset {
	if n <= 0 || n > d.dim {
		panic(fmt.Sprintf("train: %d columns of a dataset of dimension %d", n, d.dim))
	}
	c := NewDataset(n, d.Len())
	for i := range d.Len() {
		c.Add(d.Row(i)[:n], d.Correct(i))
	}
	return c
}
