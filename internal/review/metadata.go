package review

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

// Stack tags a review stack carries. They live in the backend (the DIY
// backends, file:// and s3://, keep them in a .pulumi/stacks/... tags file
// since Pulumi v3.2xx; Pulumi Cloud natively), so the reaper can read them
// from a fresh checkout that has no Pulumi.<stack>.yaml.
const (
	TagPR        = "pr"
	TagCreatedAt = "created-at"
	TagTTL       = "ttl"
	TagGitSHA    = "git-sha"
)

// Metadata is what a review stack's tags say about it.
type Metadata struct {
	PR        int
	CreatedAt time.Time // zero when unknown
	TTL       time.Duration
	GitSHA    string
}

// writeTags records the metadata of an up. created-at is written only when
// the stack has none yet, so re-running up keeps the stack's original age;
// the other tags describe the latest up and are overwritten.
func writeTags(ctx context.Context, s auto.Stack, existing map[string]string, m Metadata) error {
	tags := map[string]string{
		TagPR:     strconv.Itoa(m.PR),
		TagTTL:    m.TTL.String(),
		TagGitSHA: m.GitSHA,
	}
	if existing[TagCreatedAt] == "" {
		tags[TagCreatedAt] = m.CreatedAt.UTC().Format(time.RFC3339)
	}
	for _, key := range slices.Sorted(maps.Keys(tags)) {
		if existing[key] == tags[key] {
			continue
		}
		if err := s.SetTag(ctx, key, tags[key]); err != nil {
			return fmt.Errorf("tag stack %s with %s=%s: %w", s.Name(), key, tags[key], err)
		}
	}
	return nil
}

// parseTags reads the metadata back. A tag that is missing or does not parse
// leaves its field zero: the reaper then falls back to other evidence rather
// than failing on a stack someone tagged by hand.
func parseTags(tags map[string]string) Metadata {
	var m Metadata
	if pr, err := strconv.Atoi(tags[TagPR]); err == nil {
		m.PR = pr
	}
	if t, err := time.Parse(time.RFC3339, tags[TagCreatedAt]); err == nil {
		m.CreatedAt = t
	}
	if d, err := time.ParseDuration(tags[TagTTL]); err == nil && d > 0 {
		m.TTL = d
	}
	m.GitSHA = tags[TagGitSHA]
	return m
}
