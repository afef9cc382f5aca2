package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/realtimed/realtimed/buildinfo"
)

// newBuildInfo returns realtimed_build_info: 1, labelled with the running binary's version,
// revision and Go version, so that dashboards can tell which build each node runs.
func newBuildInfo(info buildinfo.Info) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "build_info",
		Help: "1, labelled with the realtimed build: module version, VCS revision (and whether the tree was modified), Go version.",
		ConstLabels: prometheus.Labels{
			"version": info.Version, "revision": info.Revision, "modified": boolLabel(info.Modified), "goversion": info.GoVersion,
		},
	})
	g.Set(1)
	return g
}

func boolLabel(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
