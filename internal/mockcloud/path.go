package mockcloud

import (
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// In returns an input by dotted path ("metadataOptions.httpTokens",
// "ingress[0].fromPort") as a plain Go value, secrets unwrapped; nil when
// absent.
func (r Resource) In(path string) any { return lookup(r.Inputs, path) }

// Out returns an output by dotted path, like In.
func (r Resource) Out(path string) any { return lookup(r.Outputs, path) }

// Str returns an input as a string ("" when absent or not a string).
func (r Resource) Str(path string) string {
	s, _ := r.In(path).(string)
	return s
}

// IsSecretInput reports whether the input at a top-level key is secret.
func (r Resource) IsSecretInput(key string) bool {
	v, ok := r.Inputs[resource.PropertyKey(key)]
	return ok && v.ContainsSecrets()
}

func lookup(m resource.PropertyMap, path string) any {
	var cur any = unwrap(resource.NewObjectProperty(m))
	for _, part := range strings.Split(path, ".") {
		name, idx := part, -1
		if i := strings.Index(part, "["); i >= 0 && strings.HasSuffix(part, "]") {
			name = part[:i]
			n, err := strconv.Atoi(part[i+1 : len(part)-1])
			if err != nil {
				return nil
			}
			idx = n
		}
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = obj[name]
		if idx >= 0 {
			arr, ok := cur.([]any)
			if !ok || idx >= len(arr) {
				return nil
			}
			cur = arr[idx]
		}
	}
	return cur
}
