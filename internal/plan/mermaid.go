package plan

import (
	"fmt"
	"io"
	"strings"
)

// WriteMermaid writes the component → resource graph as a mermaid
// flowchart (for a README or a pull request comment).
func (p *Plan) WriteMermaid(w io.Writer) error {
	b := &strings.Builder{}
	b.WriteString("graph TD\n")
	ids := map[string]string{p.StackURN(): "stack"}
	fmt.Fprintf(b, "  stack[\"%s\"]\n", label(p.Project+"-"+p.Stack, "pulumi:pulumi:Stack"))
	for i, r := range p.Result.Resources {
		ids[r.URN] = fmt.Sprintf("r%d", i)
	}
	for _, r := range p.Result.Resources {
		shape := "[\"%s\"]"
		if !r.Custom && !strings.HasPrefix(r.Type, "pulumi:providers:") {
			shape = "[[\"%s\"]]" // components: subroutine shape
		}
		typ := shortType(r.Type)
		if shape != "[\"%s\"]" {
			typ = r.Type
		}
		fmt.Fprintf(b, "  %s"+shape+"\n", ids[r.URN], label(r.Name, typ))
		if parent, ok := ids[r.Parent]; ok {
			fmt.Fprintf(b, "  %s --> %s\n", parent, ids[r.URN])
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func label(name, typ string) string {
	esc := strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;")
	return esc.Replace(name) + "<br/><small>" + esc.Replace(typ) + "</small>"
}
