// Renders the webhook templates that argocd-cm-patch ships with Go's own text/template, the engine Argo CD
// Notifications uses (notifications-engine pkg/templates), for tests/it/install.rs. Standard library only.
//
// stdin:  {"templates": {"<name>": "<body>"}, "app": {...Application...}, "commits": {"<sha>": {...}}}
// stdout: {"rendered": {"<name>": "<text>"}, "errors": {"<name>": "<error>"}}
//
// What Argo CD gives a template and we emulate: `.app` is the Application as a JSON map, `.context` a string
// map, `.repo.GetCommitMetadata` a function of a revision returning CommitMetadata (Message, Author, Date,
// Tags, no JSON tags) that panics when the revision cannot be resolved (util/notification/expression/repo),
// and Sprig's toJson (json.Marshal, errors swallowed). No other Sprig function is provided, so a template
// that uses one fails here as it would not in Argo CD: the shipped templates must need only toJson.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"text/template"
	"time"
)

// CommitMetadata mirrors argo-cd util/notification/expression/shared.CommitMetadata.
type CommitMetadata struct {
	Message string
	Author  string
	Date    time.Time
	Tags    []string
}

type input struct {
	Templates map[string]string         `json:"templates"`
	App       map[string]interface{}    `json:"app"`
	Commits   map[string]CommitMetadata `json:"commits"`
}

type output struct {
	Rendered map[string]string `json:"rendered"`
	Errors   map[string]string `json:"errors"`
}

func toJson(v interface{}) string {
	out, _ := json.Marshal(v)
	return string(out)
}

func main() {
	dec := json.NewDecoder(os.Stdin)
	dec.UseNumber()
	var in input
	if err := dec.Decode(&in); err != nil {
		fmt.Fprintln(os.Stderr, "render: reading input:", err)
		os.Exit(2)
	}
	repo := map[string]interface{}{
		"GetCommitMetadata": func(sha string) interface{} {
			meta, ok := in.Commits[sha]
			if !ok {
				panic(fmt.Sprintf("revision %q not found in the repository", sha))
			}
			return meta
		},
	}
	vars := map[string]interface{}{
		"app":     in.App,
		"context": map[string]string{"argocdUrl": "https://argocd.example.com"},
		"repo":    repo,
	}
	out := output{Rendered: map[string]string{}, Errors: map[string]string{}}
	names := make([]string, 0, len(in.Templates))
	for name := range in.Templates {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		tmpl, err := template.New(name).Funcs(template.FuncMap{"toJson": toJson}).Parse(in.Templates[name])
		if err != nil {
			out.Errors[name] = err.Error()
			continue
		}
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, vars); err != nil {
			out.Errors[name] = err.Error()
			continue
		}
		out.Rendered[name] = buf.String()
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "render: writing output:", err)
		os.Exit(2)
	}
}
