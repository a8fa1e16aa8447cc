package transforms

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/problemlogs"
)

// StudentGroups is how many keys the GroupByKey that gathers each
// student's logs groups students under. A key per student would make one
// element per student and flush of a reader, and a runner pays for every
// element (prism some 10 µs); a few keys would leave a distributed
// runner's replay to few workers. A group holds about 1/StudentGroups of
// the logs in memory while its students are replayed.
const StudentGroups = 1024

// groupKeys are the StudentGroup keys, made once.
var groupKeys = func() []string {
	keys := make([]string, StudentGroups)
	for i := range keys {
		keys[i] = fmt.Sprintf("students-%04d", i)
	}
	return keys
}()

// StudentGroup returns the key of the group of students user belongs to:
// FNV-1a of the user id, modulo StudentGroups. Every log of a student has
// the same key, on any worker.
func StudentGroup(user string) string { return groupKeys[studentGroup(user)] }

func studentGroup(user string) int {
	const prime = 16777619
	h := uint32(2166136261)
	for i := 0; i < len(user); i++ {
		h = (h ^ uint32(user[i])) * prime
	}
	return int(h % StudentGroups)
}

// logBatcher is what every source does with the rows it reads: it gathers
// the ProblemLogs per group of students (StudentGroup) and emits them as
// KV<group, LogBatch> every flush logs, and counts the logs and the bad
// rows (by reason, with examples) in its Stats. A source adds its own
// counts (files, shards) to the same Stats.
type logBatcher struct {
	flush int
	emit  func(string, LogBatch)

	stats    Stats
	logs     int64 // added to stats at the end: a map update per log costs
	bad      int64
	buffered int
	byGroup  [][]features.ProblemLog // StudentGroups of them
	intern   map[string]string
}

func newLogBatcher(flush int, emit func(string, LogBatch)) *logBatcher {
	if flush <= 0 {
		flush = DefaultFlushLogs
	}
	return &logBatcher{
		flush:   flush,
		emit:    emit,
		byGroup: make([][]features.ProblemLog, StudentGroups),
		intern:  map[string]string{},
	}
}

// add buffers a log. Its strings are interned unless the parser that made
// it already did.
func (b *logBatcher) add(l features.ProblemLog, intern bool) {
	if intern {
		l.User, l.Exercise, l.ProblemType = b.str(l.User), b.str(l.Exercise), b.str(l.ProblemType)
	}
	b.logs++
	g := studentGroup(l.User)
	if b.byGroup[g] == nil {
		// Room for a little more than a group's share of a flush: most
		// groups then never grow.
		b.byGroup[g] = make([]features.ProblemLog, 0, b.flush/StudentGroups*5/4+1)
	}
	b.byGroup[g] = append(b.byGroup[g], l)
	b.buffered++
	if b.buffered >= b.flush {
		b.flushBatches()
	}
}

// badRow counts a row that is not a ProblemLog. where says where it is
// (file@offset, stream@row) and text shows it.
func (b *logBatcher) badRow(ctx context.Context, err error, where, text string) {
	reason := "unparsable"
	var re *problemlogs.RowError
	if errors.As(err, &re) {
		reason = re.Reason
	}
	b.bad++
	b.stats.Add(CountBadRows+"/"+reason, 1)
	text = strings.TrimSpace(text)
	if len(text) > 200 {
		text = text[:200] + "..."
	}
	ex := fmt.Sprintf("%s: %v", where, err)
	if text != "" {
		ex += fmt.Sprintf(": %q", text)
	}
	if b.bad <= 3 {
		log.Warnf(ctx, "bad row %s", ex)
	}
	b.stats.Example(ExampleBadRow, ex)
}

func (b *logBatcher) str(s string) string {
	if v, ok := b.intern[s]; ok {
		return v
	}
	b.intern[s] = s
	return s
}

func (b *logBatcher) flushBatches() {
	for g, logs := range b.byGroup {
		if len(logs) > 0 {
			b.emit(groupKeys[g], LogBatch{Logs: logs})
			b.byGroup[g] = nil
		}
	}
	b.buffered = 0
}

// finish emits what is buffered and returns the Stats with the counts of
// logs and bad rows added.
func (b *logBatcher) finish() Stats {
	b.flushBatches()
	if b.logs > 0 {
		b.stats.Add(CountLogs, b.logs)
	}
	if b.bad > 0 {
		b.stats.Add(CountBadRows, b.bad)
	}
	return b.stats
}
