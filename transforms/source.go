package transforms

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/problemlogs"

	"github.com/kmtrain/knowledgemodel/internal/failpoint"
)

// DefaultShardBytes is the size of the byte ranges a splittable file is read in.
const DefaultShardBytes = 64 << 20

// DefaultFlushLogs is how many logs a reader buffers before it emits its
// per-student batches.
const DefaultFlushLogs = 1 << 18

// FileShard is a byte range [Start, End) of one input file. End < 0 means
// to the end of the file; compressed and remote files are read whole.
type FileShard struct {
	Path       string `json:"path"`
	Start, End int64
	Index      int `json:"index"` // 0 for the shard at the start of the file
}

// MatchFiles expands comma-separated glob patterns into file names through
// Beam's filesystems (local paths, gs://, embed://). A pattern that matches
// nothing is an error, so a typo never trains on nothing. A file that
// several patterns match ("in/*.csv,in/late.csv") is listed, and read, once.
func MatchFiles(ctx context.Context, patterns string) ([]string, error) {
	var files []string
	seen := map[string]bool{}
	for _, p := range strings.Split(patterns, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		fs, err := filesystem.New(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("input %q: %v", p, err)
		}
		matched, err := fs.List(ctx, p)
		fs.Close()
		if err != nil {
			return nil, fmt.Errorf("input %q: %v", p, err)
		}
		if len(matched) == 0 {
			return nil, fmt.Errorf("input %q matches no files", p)
		}
		for _, f := range matched {
			id := f
			if !strings.Contains(f, "://") {
				id = filepath.Clean(f)
			}
			if !seen[id] {
				seen[id] = true
				files = append(files, f)
			}
		}
	}
	if len(files) == 0 {
		return nil, errors.New("no input given")
	}
	return files, nil
}

// splittable reports whether a file can be read from an offset: only
// uncompressed local files are seekable through Beam's filesystem.
func splittable(path string) bool {
	return !strings.HasSuffix(strings.ToLower(path), ".gz") && !strings.Contains(path, "://")
}

// matchShardsFn expands the input patterns into FileShards.
type matchShardsFn struct {
	Patterns   string
	ShardBytes int64
}

func (fn *matchShardsFn) ProcessElement(ctx context.Context, _ []byte, emitShard func(FileShard), emitStats func(Stats)) error {
	files, err := MatchFiles(ctx, fn.Patterns)
	if err != nil {
		return err
	}
	var st Stats
	emit := func(s FileShard) {
		st.Add(CountShards, 1)
		emitShard(s)
	}
	defer func() { emitStats(st) }()
	for _, f := range files {
		if !splittable(f) {
			emit(FileShard{Path: f, End: -1})
			continue
		}
		fs, err := filesystem.New(ctx, f)
		if err != nil {
			return err
		}
		size, err := fs.Size(ctx, f)
		fs.Close()
		if err != nil {
			return fmt.Errorf("input %q: %v", f, err)
		}
		step := fn.ShardBytes
		if step <= 0 {
			step = DefaultShardBytes
		}
		for i, start := 0, int64(0); i == 0 || start < size; i, start = i+1, start+step {
			end := min(start+step, size)
			if end >= size {
				end = -1
			}
			emit(FileShard{Path: f, Start: start, End: end, Index: i})
		}
	}
	return nil
}

// readShardFn reads a FileShard's ProblemLogs and emits them batched per
// student, with the Stats of what it read.
type readShardFn struct {
	Columns   problemlogs.Columns
	FlushLogs int
}

func (fn *readShardFn) ProcessElement(ctx context.Context, shard FileShard, emit func(string, LogBatch), emitStats func(Stats)) error {
	r := shardReader{shard: shard, columns: fn.Columns, logBatcher: newLogBatcher(fn.FlushLogs, emit)}
	if err := r.read(ctx); err != nil {
		return err // the shard is not counted read: sinks will refuse to write
	}
	failpoint.Hit("read/shard")
	st := r.finish()
	st.Add(CountShardsRead, 1)
	st.publish(ctx)
	emitStats(st)
	return nil
}

// shardReader holds the state of reading one shard.
type shardReader struct {
	shard   FileShard
	columns problemlogs.Columns
	*logBatcher
}

func (r *shardReader) read(ctx context.Context) error {
	path := r.shard.Path
	in, err := openShard(ctx, path)
	if err != nil {
		return err
	}
	defer in.Close()

	// The first line is the CSV header or the first JSON object; every shard
	// needs it to know the file's format and columns.
	first, err := readLine(in.br)
	if err != nil && err != io.EOF {
		return fmt.Errorf("read %s: %v", path, err)
	}
	if r.shard.Index == 0 {
		r.stats.Add(CountFiles, 1)
	}
	if len(bytes.TrimSpace(first)) == 0 && err == io.EOF {
		if r.shard.Index == 0 {
			r.stats.Add(CountEmptyFiles, 1)
			r.stats.Example(ExampleEmptyFile, path)
			log.Warnf(ctx, "input %s is empty", path)
		}
		return nil
	}
	format, newParser, err := r.parserFor(first)
	if err != nil {
		return err
	}
	intern := format != problemlogs.CSV // the CSV parser interns itself
	pp := newParallelParser(runtime.GOMAXPROCS(0), newParser,
		func(l features.ProblemLog, err error, offset int64, line []byte) {
			if err != nil {
				r.badRow(ctx, err, fmt.Sprintf("%s@%d", r.shard.Path, offset), string(line))
				return
			}
			r.add(l, intern)
		})
	defer pp.Close()
	pos := int64(len(first))
	if r.shard.Start > 0 {
		if pos, err = r.seek(in); err != nil {
			return err
		}
	}
	if r.shard.Start == 0 && format == problemlogs.JSON && len(bytes.TrimSpace(first)) > 0 {
		pp.Add(first, 0)
	}
	dataLines, pos, err := r.scan(ctx, in.br, pp, pos)
	if err != nil {
		return err
	}
	pp.Close()
	if r.shard.Index == 0 && r.shard.End < 0 && dataLines == 0 && format == problemlogs.CSV {
		r.stats.Add(CountHeaderOnly, 1)
		r.stats.Example(ExampleHeaderOnly, path)
		log.Warnf(ctx, "input %s has a header and no rows", path)
	}
	log.Infof(ctx, "read %s [%d, %d): %d logs, %d bad rows", path, r.shard.Start, pos, r.logs, r.bad)
	return nil
}

// shardFile is an input file open for reading a shard of it.
type shardFile struct {
	rc     io.ReadCloser // the file, seekable on every filesystem we read
	br     *bufio.Reader // over rc, decompressed if .gz
	closed []io.Closer
}

func (f *shardFile) Close() error {
	var first error
	for i := len(f.closed) - 1; i >= 0; i-- {
		if err := f.closed[i].Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// openShard opens path through Beam's filesystems, decompressing .gz (an
// empty .gz reads as an empty file).
func openShard(ctx context.Context, path string) (*shardFile, error) {
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return nil, err
	}
	rc, err := fs.OpenRead(ctx, path)
	if err != nil {
		fs.Close()
		return nil, fmt.Errorf("open %s: %v", path, err)
	}
	f := &shardFile{rc: rc, closed: []io.Closer{fs, rc}}
	var in io.Reader = rc
	if strings.HasSuffix(strings.ToLower(path), ".gz") {
		zr, err := gzip.NewReader(rc)
		switch {
		case err == io.EOF:
			in = strings.NewReader("")
		case err != nil:
			f.Close()
			return nil, fmt.Errorf("open %s: %v", path, err)
		default:
			f.closed = append(f.closed, zr)
			in = zr
		}
	}
	f.br = bufio.NewReaderSize(in, 1<<20)
	return f, nil
}

// parserFor returns the format of the shard's file, whose first line is
// first, and how to make a parser of its lines.
func (r *shardReader) parserFor(first []byte) (problemlogs.Format, func() problemlogs.Parser, error) {
	format := problemlogs.DetectFormat(r.shard.Path, first)
	if format != problemlogs.CSV {
		return format, func() problemlogs.Parser { return problemlogs.JSONParser{Columns: r.columns} }, nil
	}
	if _, err := problemlogs.NewCSVParser(first, r.columns); err != nil {
		return format, nil, fmt.Errorf("input %s: %v", r.shard.Path, err)
	}
	return format, func() problemlogs.Parser {
		p, _ := problemlogs.NewCSVParser(first, r.columns) // checked above
		return p
	}, nil
}

// seek positions in at the first line that begins at or after the shard's
// Start, and returns that line's offset.
func (r *shardReader) seek(in *shardFile) (int64, error) {
	path := r.shard.Path
	seeker, ok := in.rc.(io.Seeker)
	if !ok {
		return 0, fmt.Errorf("input %s: cannot seek to offset %d", path, r.shard.Start)
	}
	if _, err := seeker.Seek(r.shard.Start-1, io.SeekStart); err != nil {
		return 0, fmt.Errorf("input %s: %v", path, err)
	}
	in.br.Reset(in.rc)
	skipped, err := readLine(in.br)
	if err != nil && err != io.EOF {
		return 0, fmt.Errorf("read %s: %v", path, err)
	}
	return r.shard.Start - 1 + int64(len(skipped)), nil
}

// scan hands pp every non-blank line from offset pos to the shard's End
// and returns how many there were and the offset reached.
func (r *shardReader) scan(ctx context.Context, br *bufio.Reader, pp *parallelParser, pos int64) (dataLines int, end int64, err error) {
	last := time.Now()
	for r.shard.End < 0 || pos < r.shard.End {
		line, err := readLine(br)
		if len(line) > 0 {
			if len(bytes.TrimSpace(line)) > 0 {
				dataLines++
				pp.Add(line, pos)
			}
			pos += int64(len(line))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return dataLines, pos, fmt.Errorf("read %s at byte %d: %v", r.shard.Path, pos, err)
		}
		if dataLines%4096 == 0 && time.Since(last) > 10*time.Second {
			last = time.Now()
			log.Infof(ctx, "reading %s: %d logs so far, at byte %d", r.shard.Path, r.logs, pos)
		}
	}
	return dataLines, pos, nil
}

// readLine reads a whole line, newline included, however long.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return line, err
	}
	long := append([]byte(nil), line...)
	for err == bufio.ErrBufferFull {
		line, err = br.ReadSlice('\n')
		long = append(long, line...)
	}
	return long, err
}

// ReadProblemLogs reads ProblemLogs from files matching comma-separated glob
// patterns (CSV with a header or newline-delimited JSON, optionally gzipped)
// and returns them batched per group of students as KV<StudentGroup,
// LogBatch>, with the Stats
// of what was read (Stats.Complete says whether every shard was read). Large uncompressed local files are read in parallel byte
// ranges of shardBytes (0: DefaultShardBytes).
func ReadProblemLogs(s beam.Scope, patterns string, cols problemlogs.Columns, shardBytes int64) (logs, stats beam.PCollection) {
	s = s.Scope("ReadProblemLogs")
	shards, matchStats := beam.ParDo2(s, &matchShardsFn{Patterns: patterns, ShardBytes: shardBytes}, beam.Impulse(s))
	shards = beam.Reshuffle(s, shards)
	logs, readStats := beam.ParDo2(s, &readShardFn{Columns: cols}, shards)
	return logs, beam.Flatten(s, matchStats, readStats)
}
