package mockcloud

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
