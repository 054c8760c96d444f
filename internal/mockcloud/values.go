package mockcloud

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"io"
)

// Helpers for the plain Go values that In, Out and parsed JSON documents
// give: the policy rules, the cost model, the plan and the tests read
// resources through them.

// Str returns v if it is a string, else "".
func Str(v any) string {
	s, _ := v.(string)
	return s
}

// Num returns v if it is a number.
func Num(v any) (float64, bool) {
	f, ok := v.(float64)
	return f, ok
}

// List returns v if it is a list, else nil.
func List(v any) []any {
	l, _ := v.([]any)
	return l
}

// Strings normalises IAM's "a string or a list of strings" (and any list)
// to the strings it holds.
func Strings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// UserData returns an instance's user data as cloud-init reads it: plain
// userData, or userDataBase64 decoded and, when gzipped, decompressed.
func (r Resource) UserData() string {
	if s := r.Str("userData"); s != "" {
		return s
	}
	b, err := base64.StdEncoding.DecodeString(r.Str("userDataBase64"))
	if err != nil {
		return ""
	}
	if zr, err := gzip.NewReader(bytes.NewReader(b)); err == nil {
		if plain, err := io.ReadAll(zr); err == nil {
			return string(plain)
		}
	}
	return string(b)
}
