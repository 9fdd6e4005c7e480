// pulumi-resource-openstack, as built by scripts/toolchain/build.py (docs/toolchain.md).
//
// The upstream Terraform OpenStack provider served through
// pulumi-terraform-bridge. Resource and function tokens (and aliases) come
// from mapping.json, which govcloud derives from the installed pulumi_openstack
// Python SDK, so the tokens the SDK sends are the tokens this plugin serves.
//
//	pulumi-resource-openstack              serve the plugin (what the engine runs)
//	pulumi-resource-openstack -version     print the version
//	pulumi-resource-openstack dump-tf      Terraform resource/data source names and fields, as JSON
//	pulumi-resource-openstack tfgen ARGS   the bridge's schema generator (tfgen schema --out DIR ...)
package main

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfgen"
	shim "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	ptokens "github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/terraform-provider-openstack/terraform-provider-openstack/v3/openstack"
)

// Version is set with -ldflags "-X main.Version=...".
var Version = "0.0.0-dev"

//go:embed mapping.json
var mappingJSON []byte

//go:embed schema-embed.json
var schemaJSON []byte

//go:embed bridge-metadata.json
var metadataJSON []byte

type entry struct {
	Token   string            `json:"token"`
	Aliases []string          `json:"aliases,omitempty"`
	Fields  map[string]string `json:"fields,omitempty"`
}

type mapping struct {
	Resources   map[string]entry    `json:"resources"`
	DataSources map[string]entry    `json:"dataSources"`
	ConfigEnv   map[string][]string `json:"configEnv"`
}

func loadMapping() mapping {
	data := mappingJSON
	if path := os.Getenv("GOVCLOUD_OPENSTACK_MAPPING"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "reading %s: %v\n", path, err)
			os.Exit(2)
		}
		data = b
	}
	var m mapping
	if err := json.Unmarshal(data, &m); err != nil {
		fmt.Fprintf(os.Stderr, "parsing the token mapping: %v\n", err)
		os.Exit(2)
	}
	return m
}

func fields(f map[string]string) map[string]*tfbridge.SchemaInfo {
	if len(f) == 0 {
		return nil
	}
	out := map[string]*tfbridge.SchemaInfo{}
	for tf, name := range f {
		out[tf] = &tfbridge.SchemaInfo{Name: name}
	}
	return out
}

func aliasName(name string, i int) string {
	if i == 0 {
		return name + tfbridge.RenamedEntitySuffix
	}
	return fmt.Sprintf("%s%s%d", name, tfbridge.RenamedEntitySuffix, i+1)
}

func providerInfo() tfbridge.ProviderInfo {
	m := loadMapping()
	p := shimv2.NewProvider(openstack.Provider())
	info := tfbridge.ProviderInfo{
		P:            p,
		Name:         "openstack",
		Version:      Version,
		Description:  "OpenStack resources: the Terraform OpenStack provider bridged to Pulumi (built by govcloud).",
		Keywords:     []string{"pulumi", "openstack"},
		License:      "Apache-2.0",
		GitHubOrg:    "terraform-provider-openstack",
		Repository:   "https://github.com/terraform-provider-openstack/terraform-provider-openstack",
		MetadataInfo: tfbridge.NewProviderMetadata(metadataJSON),
		Config:       map[string]*tfbridge.SchemaInfo{},
		Resources:    map[string]*tfbridge.ResourceInfo{},
		DataSources:  map[string]*tfbridge.DataSourceInfo{},
	}
	for key, envs := range m.ConfigEnv {
		info.Config[key] = &tfbridge.SchemaInfo{Default: &tfbridge.DefaultInfo{EnvVars: envs}}
	}
	var names []string
	p.ResourcesMap().Range(func(name string, _ shim.Resource) bool { names = append(names, name); return true })
	for _, name := range names {
		e, ok := m.Resources[name]
		if !ok {
			continue
		}
		info.Resources[name] = &tfbridge.ResourceInfo{Tok: ptokens.Type(e.Token), Fields: fields(e.Fields)}
		for i, alias := range e.Aliases {
			an := aliasName(name, i)
			if err := shim.CloneResource(p.ResourcesMap(), name, an); err != nil {
				panic(err)
			}
			info.Resources[an] = &tfbridge.ResourceInfo{Tok: ptokens.Type(alias), Fields: fields(e.Fields)}
		}
	}
	names = nil
	p.DataSourcesMap().Range(func(name string, _ shim.Resource) bool { names = append(names, name); return true })
	for _, name := range names {
		e, ok := m.DataSources[name]
		if !ok {
			continue
		}
		info.DataSources[name] = &tfbridge.DataSourceInfo{Tok: ptokens.ModuleMember(e.Token), Fields: fields(e.Fields)}
		for i, alias := range e.Aliases {
			an := aliasName(name, i)
			if err := shim.CloneResource(p.DataSourcesMap(), name, an); err != nil {
				panic(err)
			}
			info.DataSources[an] = &tfbridge.DataSourceInfo{Tok: ptokens.ModuleMember(alias), Fields: fields(e.Fields)}
		}
	}
	// Whatever the SDK does not name gets the bridge's standard token in the index module.
	info.MustComputeTokens(tokens.SingleModule("openstack_", "index", tokens.MakeStandard("openstack")))
	return info
}

func dumpTF() {
	p := shimv2.NewProvider(openstack.Provider())
	type item struct {
		Fields []string `json:"fields"`
	}
	out := map[string]map[string]item{"resources": {}, "dataSources": {}}
	collect := func(kind string) func(string, shim.Resource) bool {
		return func(name string, r shim.Resource) bool {
			var fs []string
			r.Schema().Range(func(k string, _ shim.Schema) bool { fs = append(fs, k); return true })
			sort.Strings(fs)
			out[kind][name] = item{Fields: fs}
			return true
		}
	}
	p.ResourcesMap().Range(collect("resources"))
	p.DataSourcesMap().Range(collect("dataSources"))
	var cfg []string
	p.Schema().Range(func(k string, _ shim.Schema) bool { cfg = append(cfg, k); return true })
	sort.Strings(cfg)
	out["config"] = map[string]item{"provider": {Fields: cfg}}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		os.Exit(1)
	}
}

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "dump-tf":
			dumpTF()
			return
		case "tfgen":
			os.Args = os.Args[1:]
			tfgen.Main("openstack", Version, providerInfo())
			return
		}
	}
	tfbridge.Main("openstack", Version, providerInfo(), schemaJSON)
}
