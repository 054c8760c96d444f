package policy

import (
	"encoding/json"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"slipway/internal/mockcloud"
)

// statement is one IAM policy statement, normalised.
type statement struct {
	Sid       string
	Effect    string
	Action    []string
	NotAction []string
	Resource  []string
	Principal any
	Condition map[string]map[string]any
}

// parseDoc parses a policy document held in an input; ok is false when
// the input is absent or not JSON.
func parseDoc(v any) ([]statement, bool) {
	s := str(v)
	if s == "" {
		if m, isMap := v.(map[string]any); isMap {
			b, _ := json.Marshal(m)
			s = string(b)
		} else {
			return nil, false
		}
	}
	var raw struct {
		Statement json.RawMessage
	}
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, false
	}
	var items []map[string]any
	if err := json.Unmarshal(raw.Statement, &items); err != nil {
		var one map[string]any
		if err := json.Unmarshal(raw.Statement, &one); err != nil {
			return nil, false
		}
		items = []map[string]any{one}
	}
	out := make([]statement, 0, len(items))
	for _, it := range items {
		st := statement{
			Sid:       str(it["Sid"]),
			Effect:    str(it["Effect"]),
			Action:    strList(it["Action"]),
			NotAction: strList(it["NotAction"]),
			Resource:  strList(it["Resource"]),
			Principal: it["Principal"],
			Condition: map[string]map[string]any{},
		}
		if c, ok := it["Condition"].(map[string]any); ok {
			for op, kv := range c {
				if m, ok := kv.(map[string]any); ok {
					st.Condition[op] = m
				}
			}
		}
		out = append(out, st)
	}
	return out, true
}

// condition returns the values of a condition key under an operator,
// matching the key case-insensitively as IAM does.
func (s statement) condition(op, key string) []string {
	for o, kv := range s.Condition {
		if !strings.EqualFold(o, op) {
			continue
		}
		for k, v := range kv {
			if strings.EqualFold(k, key) {
				return strList(v)
			}
		}
	}
	return nil
}

// principals returns the principal values of a kind ("AWS", "Service",
// "Federated"), or ["*"] for `"Principal": "*"`.
func (s statement) principals(kind string) []string {
	switch p := s.Principal.(type) {
	case string:
		return []string{p}
	case map[string]any:
		return strList(p[kind])
	}
	return nil
}

func (s statement) allows() bool { return strings.EqualFold(s.Effect, "Allow") }

// isPublic reports whether a statement's principal is everyone.
func (s statement) isPublic() bool {
	if p, ok := s.Principal.(string); ok && p == "*" {
		return true
	}
	for _, a := range s.principals("AWS") {
		if a == "*" {
			return true
		}
	}
	return false
}

// denyInsecureTransport reports whether a document denies every request
// made without TLS (aws:SecureTransport = false) for everyone.
func denyInsecureTransport(doc []statement, actionPrefix string) bool {
	for _, st := range doc {
		if st.allows() || !st.isPublic() {
			continue
		}
		all := false
		for _, a := range st.Action {
			if a == "*" || a == actionPrefix+"*" {
				all = true
			}
		}
		if !all {
			continue
		}
		for _, v := range st.condition("Bool", "aws:SecureTransport") {
			if strings.EqualFold(v, "false") {
				return true
			}
		}
	}
	return false
}

// policyInputs are the inputs that hold IAM policy documents, per type.
var policyInputs = map[string][]string{
	"aws:iam/policy:Policy":           {"policy"},
	"aws:iam/rolePolicy:RolePolicy":   {"policy"},
	"aws:iam/userPolicy:UserPolicy":   {"policy"},
	"aws:iam/groupPolicy:GroupPolicy": {"policy"},
	"aws:iam/role:Role":               {"inlinePolicies[*].policy"},
}

// documents returns the IAM policy documents a resource carries.
func documents(r mockcloud.Resource) [][]statement {
	var out [][]statement
	for _, path := range policyInputs[r.Type] {
		if strings.HasSuffix(path, "[*].policy") {
			for _, p := range list(r.In(strings.TrimSuffix(path, "[*].policy"))) {
				if m, ok := p.(map[string]any); ok {
					if d, ok := parseDoc(m["policy"]); ok {
						out = append(out, d)
					}
				}
			}
			continue
		}
		if d, ok := parseDoc(r.In(path)); ok {
			out = append(out, d)
		}
	}
	return out
}

// plainStrings calls fn for every string in a property value that is not
// inside a secret, with its path.
func plainStrings(path string, v resource.PropertyValue, fn func(path, s string)) {
	switch {
	case v.IsSecret():
		return
	case v.IsString():
		fn(path, v.StringValue())
	case v.IsArray():
		for i, e := range v.ArrayValue() {
			plainStrings(path+"["+itoa(i)+"]", e, fn)
		}
	case v.IsObject():
		for k, e := range v.ObjectValue() {
			p := string(k)
			if path != "" {
				p = path + "." + p
			}
			plainStrings(p, e, fn)
		}
	case v.IsOutput():
		o := v.OutputValue()
		if o.Secret || !o.Known {
			return
		}
		plainStrings(path, o.Element, fn)
	}
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

// minSecretLength keeps short values (an empty or "x" test value) from
// matching everything.
const minSecretLength = 8

// leakedSecret returns the first known secret s contains, or "".
func (st *Stack) leakedSecret(s string) bool {
	for _, secret := range st.Secrets {
		if len(secret) >= minSecretLength && strings.Contains(s, secret) {
			return true
		}
	}
	return false
}

// ingress is one inbound rule, whatever resource declares it.
type ingress struct {
	from, to float64
	protocol string
	sources  []string // CIDR blocks (v4 and v6); prefix lists and groups are not listed
	res      mockcloud.Resource
}

func (i ingress) allPorts() bool {
	return i.protocol == "-1" || strings.EqualFold(i.protocol, "all") || (i.from <= 0 && i.to >= 65535)
}

func (i ingress) covers(port float64) bool {
	return i.allPorts() || (i.from <= port && port <= i.to)
}

func (i ingress) worldOpen() bool {
	for _, s := range i.sources {
		if s == "0.0.0.0/0" || s == "::/0" {
			return true
		}
	}
	return false
}

// ingressTypes are the resources that open inbound ports.
var ingressTypes = []string{
	"aws:ec2/securityGroup:SecurityGroup",
	"aws:ec2/securityGroupRule:SecurityGroupRule",
	"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
}

// ingressRules normalises the inbound rules of the three ways to declare
// them: inline on a group, aws:ec2 SecurityGroupRule of type ingress, and
// aws:vpc SecurityGroupIngressRule.
func ingressRules(rs []mockcloud.Resource) []ingress {
	var out []ingress
	for _, r := range rs {
		switch r.Type {
		case "aws:ec2/securityGroup:SecurityGroup":
			for _, x := range list(r.In("ingress")) {
				m, _ := x.(map[string]any)
				from, _ := num(m["fromPort"])
				to, _ := num(m["toPort"])
				out = append(out, ingress{from, to, str(m["protocol"]),
					append(strList(m["cidrBlocks"]), strList(m["ipv6CidrBlocks"])...), r})
			}
		case "aws:ec2/securityGroupRule:SecurityGroupRule":
			if r.Str("type") != "ingress" {
				continue
			}
			from, _ := num(r.In("fromPort"))
			to, _ := num(r.In("toPort"))
			out = append(out, ingress{from, to, r.Str("protocol"),
				append(strList(r.In("cidrBlocks")), strList(r.In("ipv6CidrBlocks"))...), r})
		case "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
			from, _ := num(r.In("fromPort"))
			to, _ := num(r.In("toPort"))
			var src []string
			for _, k := range []string{"cidrIpv4", "cidrIpv6"} {
				if s := r.Str(k); s != "" {
					src = append(src, s)
				}
			}
			out = append(out, ingress{from, to, r.Str("ipProtocol"), src, r})
		}
	}
	return out
}
