package transforms

import (
	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/problemlogs"
)

// linesPerChunk is how many lines one parser goroutine parses at a time.
const linesPerChunk = 2048

// lineChunk is a run of consecutive lines of a shard, parsed by one of the
// parallelParser's goroutines.
type lineChunk struct {
	text    []byte  // the lines, one after another
	ends    []int   // where each line ends in text
	offsets []int64 // where each line starts in the file

	logs []features.ProblemLog // parsed, one a line
	errs []error               // nil where the line parsed
	done chan struct{}         // closed once logs and errs are filled
}

func (c *lineChunk) line(i int) []byte {
	start := 0
	if i > 0 {
		start = c.ends[i-1]
	}
	return c.text[start:c.ends[i]]
}

// parallelParser parses a shard's lines on several goroutines, each with a
// parser of its own, and hands the results back in the order of the lines,
// so that what a reader emits does not depend on the number of goroutines.
// Parsing (time and number conversion, string interning) is about half of
// the cost of reading, and a reader's shard is read as one serial bundle.
type parallelParser struct {
	work    chan *lineChunk
	pending []*lineChunk // sent, in line order
	cur     *lineChunk
	free    chan *lineChunk
	closed  bool
	result  func(l features.ProblemLog, err error, offset int64, line []byte)
}

// newParallelParser starts workers goroutines, each parsing with a parser
// from newParser. result is called on the caller's goroutine, in line
// order, from Add and Close.
func newParallelParser(workers int, newParser func() problemlogs.Parser,
	result func(l features.ProblemLog, err error, offset int64, line []byte)) *parallelParser {
	workers = max(workers, 1)
	pp := &parallelParser{
		work:   make(chan *lineChunk, workers),
		free:   make(chan *lineChunk, 2*workers+1),
		result: result,
	}
	for range workers {
		p := newParser()
		go func() {
			for c := range pp.work {
				for i := range c.ends {
					c.logs[i], c.errs[i] = p.Parse(c.line(i))
				}
				close(c.done)
			}
		}()
	}
	return pp
}

// Add queues one line that starts at offset in the file.
func (pp *parallelParser) Add(line []byte, offset int64) {
	if pp.cur == nil {
		select {
		case pp.cur = <-pp.free:
			pp.cur.text, pp.cur.ends, pp.cur.offsets = pp.cur.text[:0], pp.cur.ends[:0], pp.cur.offsets[:0]
		default:
			pp.cur = &lineChunk{}
		}
	}
	c := pp.cur
	c.text = append(c.text, line...)
	c.ends = append(c.ends, len(c.text))
	c.offsets = append(c.offsets, offset)
	if len(c.ends) == linesPerChunk {
		pp.send()
	}
}

func (pp *parallelParser) send() {
	c := pp.cur
	pp.cur = nil
	c.logs = append(c.logs[:0], make([]features.ProblemLog, len(c.ends))...)
	c.errs = append(c.errs[:0], make([]error, len(c.ends))...)
	c.done = make(chan struct{})
	// Keep at most cap(free)-1 chunks in flight, so a chunk handed back is
	// never lost.
	for len(pp.pending) >= cap(pp.free)-1 {
		pp.drainOne()
	}
	pp.pending = append(pp.pending, c)
	pp.work <- c
}

// drainOne waits for the oldest chunk and hands its results back.
func (pp *parallelParser) drainOne() {
	c := pp.pending[0]
	pp.pending = pp.pending[1:]
	<-c.done
	for i := range c.ends {
		pp.result(c.logs[i], c.errs[i], c.offsets[i], c.line(i))
	}
	clear(c.logs)
	select {
	case pp.free <- c:
	default:
	}
}

// Close parses what is queued, hands every result back and stops the
// goroutines. Calls after the first do nothing.
func (pp *parallelParser) Close() {
	if pp.closed {
		return
	}
	pp.closed = true
	if pp.cur != nil && len(pp.cur.ends) > 0 {
		pp.send()
	}
	for len(pp.pending) > 0 {
		pp.drainOne()
	}
	close(pp.work)
}
