package report

import (
	"math"
	"strconv"
	"strings"
)

// This file is the small chart helper the pages share: linear scales with
// "nice" ticks, and a chart model (svgChart) of plain elements that the
// templates in templates.go draw, so that every string that ends up in the
// SVG (exercise names in <title>, legend labels) goes through html/template
// and is escaped.

// palette colors the series of a chart, in order (Tableau 10).
var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

// Colors of the pages' fixed roles.
const (
	colorModel  = "#1f77b4" // the model, lines and better-than-baseline points
	colorWorse  = "#d62728" // exercises where the model does worse than the baseline
	colorSame   = "#7f7f7f" // exercises where the model scores as the baseline does
	colorBars   = "#c7c7c7" // attempts bars
	colorRecent = "#fff3cd" // the recent window's shading
)

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// linear maps the domain [d0, d1] onto the range [r0, r1].
type linear struct{ d0, d1, r0, r1 float64 }

// newLinear returns a scale from [d0, d1] to [r0, r1]. An empty or
// non-finite domain is widened so that at never divides by zero: a
// single value v becomes [v-|v|/10, v+|v|/10], zero becomes [-1, 1], and
// non-finite bounds become [0, 1].
func newLinear(d0, d1, r0, r1 float64) linear {
	d0, d1 = widen(d0, d1)
	return linear{d0, d1, r0, r1}
}

// widen orders [lo, hi] and makes it non-empty and finite.
func widen(lo, hi float64) (float64, float64) {
	switch {
	case !finite(lo) && !finite(hi):
		return 0, 1
	case !finite(lo):
		lo = hi
	case !finite(hi):
		hi = lo
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	if hi-lo <= 1e-12*math.Max(1, math.Max(math.Abs(lo), math.Abs(hi))) {
		pad := math.Abs(lo) / 10
		if pad == 0 {
			pad = 1
		}
		lo, hi = lo-pad, hi+pad
	}
	return lo, hi
}

// at returns the range value of v.
func (s linear) at(v float64) float64 {
	return s.r0 + (v-s.d0)/(s.d1-s.d0)*(s.r1-s.r0)
}

// niceStep returns a step of 1, 2 or 5 times a power of ten that cuts
// span into about n intervals.
func niceStep(span float64, n int) float64 {
	if n < 1 {
		n = 1
	}
	if !(span > 0) || !finite(span) {
		return 1
	}
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	switch r := raw / mag; {
	case r < 1.5:
		return mag
	case r < 3:
		return 2 * mag
	case r < 7:
		return 5 * mag
	default:
		return 10 * mag
	}
}

// niceDomain widens [lo, hi] to multiples of a nice step for about n ticks,
// and returns it with the step.
func niceDomain(lo, hi float64, n int) (nlo, nhi, step float64) {
	lo, hi = widen(lo, hi)
	step = niceStep(hi-lo, n)
	nlo = math.Floor(lo/step+1e-9) * step
	nhi = math.Ceil(hi/step-1e-9) * step
	if nhi <= nlo {
		nhi = nlo + step
	}
	return nlo, nhi, step
}

// ticks returns the multiples of step in [lo, hi] (at most 50).
func ticks(lo, hi, step float64) []float64 {
	if !(step > 0) || !finite(lo) || !finite(hi) {
		return nil
	}
	var out []float64
	for i := math.Ceil(lo/step - 1e-9); len(out) < 50; i++ {
		v := i * step
		if v > hi+step*1e-9 {
			break
		}
		if math.Abs(v) < step*1e-9 {
			v = 0
		}
		out = append(out, v)
	}
	return out
}

// tickLabel formats a tick value with as many decimals as step needs.
func tickLabel(v, step float64) string {
	dec := 0
	if step > 0 && step < 1 {
		dec = int(math.Ceil(-math.Log10(step) - 1e-9))
	}
	if math.Abs(v) < step*1e-9 {
		v = 0
	}
	return strconv.FormatFloat(v, 'f', dec, 64)
}

// countLabel formats a count compactly: 950, 1.2k, 34k, 1.5M.
func countLabel(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return trimZero(strconv.FormatFloat(v/1e6, 'f', 1, 64)) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', 0, 64) + "k"
	case a >= 1e3:
		return trimZero(strconv.FormatFloat(v/1e3, 'f', 1, 64)) + "k"
	default:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
}

func trimZero(s string) string { return strings.TrimSuffix(s, ".0") }

// num formats an SVG coordinate: one decimal, no trailing ".0".
func num(v float64) string {
	if !finite(v) {
		return "0"
	}
	return trimZero(strconv.FormatFloat(math.Round(v*10)/10, 'f', 1, 64))
}

// svgChart is one chart: the root <svg class="chart" data-chart=Kind>.
type svgChart struct {
	Kind   string // data-chart
	Label  string // aria-label
	W, H   int
	Back   []svgEl     // frame: grid, axes, ticks, labels, reference lines
	Series []svgSeries // <g class="series">
	Legend []svgLegend
	CSV    *csvLink // the chart's data, offered under it
}

// svgSeries is one <g class="series" data-series=Name>.
type svgSeries struct {
	Name  string
	Color string
	Els   []svgEl
}

// svgLegend is one legend entry, drawn in the top left of the plot.
type svgLegend struct {
	X, Y  float64
	Color string
	Text  string
}

// svgEl is one SVG element; Tag says which and which fields count.
type svgEl struct {
	Tag    string // line, path, circle, rect, text
	Class  string
	X1, Y1 float64 // line; x, y of rect and text
	X2, Y2 float64 // line; width, height of rect
	R      float64 // circle radius
	D      string  // path data
	Fill   string
	Stroke string
	Anchor string // text-anchor of text
	Rotate bool   // text rotated -90° about its position
	Text   string // text content
	Title  string // <title> child: the hover text
}

func line(class string, x1, y1, x2, y2 float64) svgEl {
	return svgEl{Tag: "line", Class: class, X1: x1, Y1: y1, X2: x2, Y2: y2}
}

func text(class string, x, y float64, anchor, s string) svgEl {
	return svgEl{Tag: "text", Class: class, X1: x, Y1: y, Anchor: anchor, Text: s}
}

func circle(x, y, r float64, fill, title string) svgEl {
	return svgEl{Tag: "circle", X1: x, Y1: y, R: r, Fill: fill, Title: title}
}

func rect(class string, x, y, w, h float64, fill, title string) svgEl {
	if w < 0 {
		x, w = x+w, -w
	}
	if h < 0 {
		y, h = y+h, -h
	}
	return svgEl{Tag: "rect", Class: class, X1: x, Y1: y, X2: w, Y2: h, Fill: fill, Title: title}
}

// pathBuilder builds the d attribute of a polyline with gaps: Break starts
// a new subpath at the next point.
type pathBuilder struct {
	b      strings.Builder
	broken bool
	n      int // points in the current subpath
}

func (p *pathBuilder) To(x, y float64) {
	if p.b.Len() == 0 || p.broken {
		if p.b.Len() > 0 {
			p.b.WriteByte(' ')
		}
		p.b.WriteByte('M')
		p.broken, p.n = false, 0
	} else {
		p.b.WriteString(" L")
	}
	p.b.WriteString(num(x))
	p.b.WriteByte(' ')
	p.b.WriteString(num(y))
	p.n++
}

func (p *pathBuilder) Break() { p.broken = true }

func (p *pathBuilder) String() string { return p.b.String() }

// plot is the plotting area of a chart of size W×H with margins.
type plot struct {
	W, H                     int
	Left, Right, Top, Bottom float64
}

func (p plot) x0() float64 { return p.Left }
func (p plot) x1() float64 { return float64(p.W) - p.Right }
func (p plot) y0() float64 { return float64(p.H) - p.Bottom } // bottom edge (SVG y grows down)
func (p plot) y1() float64 { return p.Top }

// axis describes one axis: a scale and its ticks.
type axis struct {
	s     linear
	ticks []float64
	label func(float64) string
}

// niceAxis returns an axis over [lo, hi] widened to nice ticks, mapped to
// [r0, r1].
func niceAxis(lo, hi float64, n int, r0, r1 float64) axis {
	nlo, nhi, step := niceDomain(lo, hi, n)
	return axis{
		s:     newLinear(nlo, nhi, r0, r1),
		ticks: ticks(nlo, nhi, step),
		label: func(v float64) string { return tickLabel(v, step) },
	}
}

// frame returns the background of a chart: horizontal grid lines at the y
// ticks, the axes, tick labels, and the axis titles.
func (p plot) frame(x, y axis, xTitle, yTitle string) []svgEl {
	var els []svgEl
	for _, v := range y.ticks {
		yy := y.s.at(v)
		els = append(els, line("grid", p.x0(), yy, p.x1(), yy),
			text("tick", p.x0()-4, yy+3.5, "end", y.label(v)))
	}
	for _, v := range x.ticks {
		xx := x.s.at(v)
		els = append(els, line("tickmark", xx, p.y0(), xx, p.y0()+4),
			text("tick", xx, p.y0()+15, "middle", x.label(v)))
	}
	els = append(els, line("axis", p.x0(), p.y0(), p.x1(), p.y0()), line("axis", p.x0(), p.y0(), p.x0(), p.y1()))
	if xTitle != "" {
		els = append(els, text("axis-title", (p.x0()+p.x1())/2, float64(p.H)-4, "middle", xTitle))
	}
	if yTitle != "" {
		t := text("axis-title", 12, (p.y0()+p.y1())/2, "middle", yTitle)
		t.Rotate = true
		els = append(els, t)
	}
	return els
}

// rightAxis returns a second y axis on the right edge of the plot.
func (p plot) rightAxis(y axis, title string) []svgEl {
	var els []svgEl
	for _, v := range y.ticks {
		yy := y.s.at(v)
		els = append(els, line("tickmark", p.x1(), yy, p.x1()+4, yy),
			text("tick", p.x1()+6, yy+3.5, "start", y.label(v)))
	}
	els = append(els, line("axis", p.x1(), p.y0(), p.x1(), p.y1()))
	if title != "" {
		t := text("axis-title", float64(p.W)-6, (p.y0()+p.y1())/2, "middle", title)
		t.Rotate = true
		els = append(els, t)
	}
	return els
}

// Legend entries: a 12-pixel swatch, a gap, then the text at about 6.5
// pixels a character; rows are legendRow pixels apart.
const (
	legendGap = 22
	legendRun = 6.5
	legendRow = 14
)

// legendLayout places legend entries for names left to right from the
// plot's left edge, starting a new row where an entry would pass its right
// edge; it returns each entry's x and row, and the number of rows.
func (p plot) legendLayout(names []string) (xs []float64, rows []int, n int) {
	x, row := p.x0(), 0
	for i, name := range names {
		w := legendGap + legendRun*float64(len([]rune(name)))
		if i > 0 && x+w-6 > p.x1() { // the text ends 6 pixels short of the next entry
			x, row = p.x0(), row+1
		}
		xs, rows = append(xs, x), append(rows, row)
		x += w
	}
	return xs, rows, row + 1
}

// fitLegend grows the top margin, and the chart with it, by a row for each
// legend row past the first that names need, so that the plot keeps its
// size and the legend stays inside the chart.
func (p *plot) fitLegend(names []string) {
	if _, _, n := p.legendLayout(names); n > 1 {
		extra := float64(legendRow * (n - 1))
		p.Top += extra
		p.H += int(extra)
	}
}

// legend returns legend entries for names in rows in the top margin of the
// chart, above the plot, the last row just above it.
func (p plot) legend(names, colors []string) []svgLegend {
	xs, rows, n := p.legendLayout(names)
	out := make([]svgLegend, len(names))
	for i := range names {
		y := p.y1() - 10 - float64(legendRow*(n-1-rows[i]))
		out[i] = svgLegend{X: xs[i], Y: y, Color: colors[i], Text: names[i]}
	}
	return out
}
