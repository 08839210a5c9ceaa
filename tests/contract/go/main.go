// Command contract decodes one JSON body into one client struct and says whether the client
// could read it.
//
//	contract TYPE BODY     the body as the second argument
//	contract TYPE -        the body on standard input
//	contract -list         the known TYPE names, one a line
//
// It fails (exit 1, one problem a line on standard output) when
//   - encoding/json.Unmarshal into the struct returns an error, as the client's decoder
//     would (a string where the client has a float64, a bare date where it has a time.Time);
//   - a field the client reads (its json tag has no omitempty) is absent, or is null where
//     its Go type cannot be null (anything but a pointer, slice, map or interface: Go would
//     silently keep the zero value, and the client would act on a number nobody sent).
//
// Beside encoding/json's first error, every field is decoded on its own, so one run lists
// every field the client cannot read, each with its JSON path.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"

	"asbb.test/contract/advisor"
	"asbb.test/contract/original"
)

// types maps a TYPE name to the Go type the client decodes that answer into.
var types = map[string]reflect.Type{
	"advisor.BudgetStatus":                    reflect.TypeOf(advisor.BudgetStatus{}),
	"advisor.AffordabilityCheck":              reflect.TypeOf(advisor.AffordabilityCheck{}),
	"advisor.GrantTimeline":                   reflect.TypeOf(advisor.GrantTimeline{}),
	"original.BudgetCheckResponse":            reflect.TypeOf(original.BudgetCheckResponse{}),
	"original.JobReconcileResponse":           reflect.TypeOf(original.JobReconcileResponse{}),
	"original.BudgetAccount":                  reflect.TypeOf(original.BudgetAccount{}),
	"[]*original.BudgetAccount":               reflect.TypeOf([]*original.BudgetAccount{}),
	"[]*original.BudgetTransaction":           reflect.TypeOf([]*original.BudgetTransaction{}),
	"original.GrantAccount":                   reflect.TypeOf(original.GrantAccount{}),
	"[]*original.GrantAccount":                reflect.TypeOf([]*original.GrantAccount{}),
	"original.BurnRateAnalysisResponse":       reflect.TypeOf(original.BurnRateAnalysisResponse{}),
	"original.HealthCheckResponse":            reflect.TypeOf(original.HealthCheckResponse{}),
	"original.BuildInfo":                      reflect.TypeOf(original.BuildInfo{}),
	"original.ASBXCostReconciliationResponse": reflect.TypeOf(original.ASBXCostReconciliationResponse{}),
	"original.ASBXEpilogResponse":             reflect.TypeOf(original.ASBXEpilogResponse{}),
	"original.ASBXIntegrationStatus":          reflect.TypeOf(original.ASBXIntegrationStatus{}),
	"original.BudgetStatusResponse":           reflect.TypeOf(original.BudgetStatusResponse{}),
	"original.AffordabilityCheckResponse":     reflect.TypeOf(original.AffordabilityCheckResponse{}),
	"original.GrantTimelineResponse":          reflect.TypeOf(original.GrantTimelineResponse{}),
	"original.BurstDecisionResponse":          reflect.TypeOf(original.BurstDecisionResponse{}),
}

var unmarshaler = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()

type problems []string

func (p *problems) add(path, format string, args ...any) {
	if path == "" {
		path = "(body)"
	}
	*p = append(*p, path+": "+fmt.Sprintf(format, args...))
}

// nullable says whether Go can hold a JSON null in a value of this type.
func nullable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		return true
	}
	return false
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// tagOf is the JSON name of a field and whether it may be left out ("-": never decoded).
func tagOf(f reflect.StructField) (name string, omitempty bool) {
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "-", true
	}
	parts := strings.Split(tag, ",")
	name = parts[0]
	if name == "" {
		name = f.Name
	}
	for _, option := range parts[1:] {
		if option == "omitempty" {
			omitempty = true
		}
	}
	return name, omitempty
}

// lookup finds a key as encoding/json does: the exact name first, else any case.
func lookup(object map[string]json.RawMessage, name string) (json.RawMessage, bool) {
	if raw, ok := object[name]; ok {
		return raw, true
	}
	keys := make([]string, 0, len(object))
	for key := range object {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		if strings.EqualFold(key, name) {
			return object[key], true
		}
	}
	return nil, false
}

func isNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// leaf decodes raw into a fresh value of t on its own, recording encoding/json's error.
func leaf(t reflect.Type, raw json.RawMessage, path string, out *problems) {
	if err := json.Unmarshal(raw, reflect.New(t).Interface()); err != nil {
		out.add(path, "%v", err)
	}
}

// walk checks raw (not null) against t, field by field.
func walk(t reflect.Type, raw json.RawMessage, path string, out *problems) {
	if t.Implements(unmarshaler) || reflect.PointerTo(t).Implements(unmarshaler) {
		leaf(t, raw, path, out)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		walk(t.Elem(), raw, path, out)
	case reflect.Slice:
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			out.add(path, "expected a JSON array for Go's %v: %v", t, err)
			return
		}
		for i, item := range items {
			at := fmt.Sprintf("%s[%d]", path, i)
			if isNull(item) {
				if !nullable(t.Elem()) {
					out.add(at, "null, but Go's %v cannot be null", t.Elem())
				}
				continue
			}
			walk(t.Elem(), item, at, out)
		}
	case reflect.Map:
		var entries map[string]json.RawMessage
		if err := json.Unmarshal(raw, &entries); err != nil {
			out.add(path, "expected a JSON object for Go's %v: %v", t, err)
			return
		}
		for key, value := range entries {
			if !isNull(value) {
				walk(t.Elem(), value, join(path, key), out)
			}
		}
	case reflect.Struct:
		var object map[string]json.RawMessage
		if err := json.Unmarshal(raw, &object); err != nil {
			out.add(path, "expected a JSON object for Go's %v: %v", t, err)
			return
		}
		fields(t, object, path, out)
	default:
		leaf(t, raw, path, out)
	}
}

func fields(t reflect.Type, object map[string]json.RawMessage, path string, out *problems) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, omitempty := tagOf(f)
		if name == "-" {
			continue
		}
		if f.Anonymous && f.Tag.Get("json") == "" && f.Type.Kind() == reflect.Struct {
			fields(f.Type, object, path, out) // an embedded struct's fields are the parent's
			continue
		}
		at := join(path, name)
		raw, present := lookup(object, name)
		switch {
		case !present:
			if !omitempty {
				out.add(at, "missing: the client reads it (Go %v)", f.Type)
			}
		case isNull(raw):
			if !omitempty && !nullable(f.Type) {
				out.add(at, "null, but Go's %v cannot be null", f.Type)
			}
		default:
			walk(f.Type, raw, at, out)
		}
	}
}

// check is every problem the client would have with body as a t.
func check(t reflect.Type, body []byte) problems {
	var out problems
	if err := json.Unmarshal(body, reflect.New(t).Interface()); err != nil {
		out.add("", "encoding/json.Unmarshal into %v: %v", t, err)
	}
	if !json.Valid(body) {
		return out
	}
	if isNull(body) {
		if !nullable(t) {
			out.add("", "null, but Go's %v cannot be null", t)
		}
		return out
	}
	walk(t, body, "", &out)
	return out
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == "-list" {
		names := make([]string, 0, len(types))
		for name := range types {
			names = append(names, name)
		}
		sort.Strings(names)
		fmt.Println(strings.Join(names, "\n"))
		return
	}
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: contract TYPE BODY|-   or   contract -list")
		os.Exit(2)
	}
	t, known := types[os.Args[1]]
	if !known {
		fmt.Fprintf(os.Stderr, "unknown type %q (contract -list names them)\n", os.Args[1])
		os.Exit(2)
	}
	body := []byte(os.Args[2])
	if os.Args[2] == "-" {
		var err error
		if body, err = io.ReadAll(os.Stdin); err != nil {
			fmt.Fprintln(os.Stderr, "reading standard input:", err)
			os.Exit(2)
		}
	}
	found := check(t, body)
	if len(found) == 0 {
		fmt.Printf("ok: %s\n", os.Args[1])
		return
	}
	for _, line := range found {
		fmt.Println(line)
	}
	os.Exit(1)
}
