package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"cloud.google.com/go/datastore"

	"github.com/kmtrain/knowledgemodel/internal/failpoint"
)

// A version's model.Summary is stored as its JSON (the same bytes as
// json.Marshal, what summary.json holds indented) cut into pieces of at
// most summaryChunkBytes, at character boundaries, each a KindSummary
// entity. The version entity says how many there are and the SHA-256 of
// their concatenation, which is part of every piece's key: a rewrite of a
// version with another summary writes new pieces before it switches the
// version entity to them in its transaction, and removes the old pieces
// only then, so a reader always finds a whole summary, and a rewrite that
// fails midway leaves the old one readable.
const (
	// summaryChunkBytes is the most JSON bytes in one piece: under the
	// MaxValueBytes of a string value, with room for the key and the other
	// properties in MaxEntityBytes.
	summaryChunkBytes = 990_000
	// summaryChunksPerCommit keeps a commit of pieces (~3 MB) under
	// MaxRequestBytes, and under the 4 MiB the emulator takes in one
	// request.
	summaryChunksPerCommit = 3
	// summaryChunksPerLookup keeps a Lookup's reply (~3 MB) under gRPC's
	// default 4 MiB limit on a received message.
	summaryChunksPerLookup = 3
)

// summaryChunk is a KindSummary entity: piece N (from 0) of the summary
// JSON of Version, whose whole JSON has SHA-256 SHA256 (hex).
type summaryChunk struct {
	Version string `datastore:"version"` // indexed: a version's pieces are a query
	SHA256  string `datastore:"sha256,noindex"`
	N       int64  `datastore:"n,noindex"`
	JSON    string `datastore:"json,noindex"`
}

// SummaryChunkKeyName returns the key name of piece n of the summary of
// version whose JSON has SHA-256 digest (hex): "<version>/<the digest's
// first 16 hex digits>/<n>".
func SummaryChunkKeyName(version, digest string, n int) string {
	return version + "/" + digest[:16] + "/" + strconv.Itoa(n)
}

// summaryDigest is the hex SHA-256 of a summary's JSON.
func summaryDigest(j []byte) string {
	h := sha256.Sum256(j)
	return hex.EncodeToString(h[:])
}

// splitSummary cuts JSON (valid UTF-8, as json.Marshal writes it) into
// pieces of at most summaryChunkBytes that end at character boundaries,
// so that each is a valid string value. It returns at least one piece.
func splitSummary(j []byte) []string {
	var out []string
	for len(j) > 0 || len(out) == 0 {
		n := min(len(j), summaryChunkBytes)
		for n < len(j) && n > 0 && !utf8.RuneStart(j[n]) {
			n--
		}
		out = append(out, string(j[:n]))
		j = j[n:]
	}
	return out
}

func (s *Store) summaryKeys(version, digest string, n int) []*datastore.Key {
	keys := make([]*datastore.Key, n)
	for i := range keys {
		keys[i] = s.key(KindSummary, SummaryChunkKeyName(version, digest, i))
	}
	return keys
}

// putSummary stores the pieces of a version's summary JSON j.
func (s *Store) putSummary(ctx context.Context, version string, j []byte) error {
	digest := summaryDigest(j)
	pieces := splitSummary(j)
	keys := s.summaryKeys(version, digest, len(pieces))
	for start := 0; start < len(pieces); start += summaryChunksPerCommit {
		end := min(start+summaryChunksPerCommit, len(pieces))
		ents := make([]*summaryChunk, 0, end-start)
		for i := start; i < end; i++ {
			ents = append(ents, &summaryChunk{Version: version, SHA256: digest, N: int64(i), JSON: pieces[i]})
		}
		what := fmt.Sprintf("version %s: writing summary pieces %d-%d of %d (%d bytes)", version, start+1, end, len(pieces), len(j))
		if err := s.Retry.do(ctx, what, func(ctx context.Context) error {
			_, err := s.client.PutMulti(ctx, keys[start:end], ents)
			return err
		}); err != nil {
			return err
		}
		failpoint.Hit("store/summary-pieces")
	}
	return nil
}

// deleteSummary removes the n pieces of a summary that a version entity
// no longer names.
func (s *Store) deleteSummary(ctx context.Context, version, digest string, n int) error {
	keys := s.summaryKeys(version, digest, n)
	for start := 0; start < len(keys); start += MaxBatch {
		batch := keys[start:min(start+MaxBatch, len(keys))]
		what := fmt.Sprintf("version %s: removing %d pieces of its previous summary", version, len(batch))
		if err := s.Retry.do(ctx, what, func(ctx context.Context) error {
			return s.client.DeleteMulti(ctx, batch)
		}); err != nil {
			return err
		}
	}
	return nil
}

// maxSummaryBytes bounds what a version entity may say its summary holds:
// far beyond any real one (a summary is kilobytes per exercise), so that a
// corrupt count is an error rather than an allocation of its size.
const maxSummaryBytes = 1 << 32

// summaryPiecesFit reports whether splitSummary can cut a summary of size
// bytes (at most maxSummaryBytes) into n pieces: every piece but the last
// holds summaryChunkBytes less at most the bytes of a cut character, and
// there is at least one.
func summaryPiecesFit(n, size int64) bool {
	if n < 1 || size < 0 || size > maxSummaryBytes {
		return false
	}
	least := max(1, size/summaryChunkBytes)
	if size > least*summaryChunkBytes {
		least++
	}
	most := size/(summaryChunkBytes-utf8.UTFMax+1) + 1
	return least <= n && n <= most
}

// errSummaryMoved: a piece the version entity named is gone, as when the
// version was rewritten with another summary since the entity was read.
var errSummaryMoved = errors.New("a piece of the summary is missing")

// readSummary returns the summary JSON e names: its pieces, concatenated
// and checked against e's length and digest, or the JSON e holds itself
// (a version written before summaries were cut into pieces).
func (s *Store) readSummary(ctx context.Context, e *versionEntity) ([]byte, error) {
	if e.SummaryChunks == 0 {
		if e.Summary == "" {
			return nil, fmt.Errorf("version %s has no summary", e.Version)
		}
		return []byte(e.Summary), nil
	}
	if len(e.SummarySHA256) != sha256.Size*2 {
		return nil, fmt.Errorf("version %s: summary digest %q is not a hex SHA-256", e.Version, e.SummarySHA256)
	}
	if !summaryPiecesFit(e.SummaryChunks, e.SummaryBytes) {
		return nil, fmt.Errorf("version %s: corrupt: a summary of %d bytes cannot be %d pieces", e.Version, e.SummaryBytes, e.SummaryChunks)
	}
	keys := s.summaryKeys(e.Version, e.SummarySHA256, int(e.SummaryChunks))
	j := make([]byte, 0, min(e.SummaryBytes, summaryChunksPerLookup*summaryChunkBytes))
	for start := 0; start < len(keys); start += summaryChunksPerLookup {
		batch := keys[start:min(start+summaryChunksPerLookup, len(keys))]
		pieces := make([]summaryChunk, len(batch))
		what := fmt.Sprintf("version %s: reading summary pieces %d-%d of %d", e.Version, start+1, start+len(batch), len(keys))
		err := s.Retry.do(ctx, what, func(ctx context.Context) error {
			return s.client.GetMulti(ctx, batch, pieces)
		})
		var me datastore.MultiError
		if errors.As(err, &me) {
			for i, err := range me {
				if errors.Is(err, datastore.ErrNoSuchEntity) {
					return nil, fmt.Errorf("version %s: %w: %s", e.Version, errSummaryMoved, batch[i].Name)
				}
			}
		}
		if err != nil {
			return nil, err
		}
		for _, p := range pieces {
			j = append(j, p.JSON...)
		}
	}
	if int64(len(j)) != e.SummaryBytes || summaryDigest(j) != e.SummarySHA256 {
		return nil, fmt.Errorf("version %s: the summary's %d pieces hold %d bytes with SHA-256 %.16s..., the version says %d bytes, %.16s...",
			e.Version, len(keys), len(j), summaryDigest(j), e.SummaryBytes, e.SummarySHA256)
	}
	return j, nil
}

// versionInfo returns the version e describes, summary included. A piece
// found missing (the version rewritten meanwhile) makes it read the
// version entity again, a few times.
func (s *Store) versionInfo(ctx context.Context, e *versionEntity) (VersionInfo, error) {
	for attempt := 1; ; attempt++ {
		j, err := s.readSummary(ctx, e)
		if err == nil {
			return e.info(j)
		}
		if !errors.Is(err, errSummaryMoved) || attempt == 3 {
			return VersionInfo{}, err
		}
		var again versionEntity
		id := e.Version
		if err := s.Retry.do(ctx, "version "+id+": reading", func(ctx context.Context) error {
			return s.client.Get(ctx, s.key(KindVersion, id), &again)
		}); err != nil {
			return VersionInfo{}, err
		}
		e = &again
	}
}
