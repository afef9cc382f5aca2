package limits

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// ClientAddr returns the address of the client that made r. It is the peer's address
// (RemoteAddr) unless the peer is a trusted proxy: then X-Forwarded-For is read from the right
// (the entry the nearest proxy appended) and the first address that is not itself a trusted
// proxy is the client. Entries a client wrote itself are further left and never reached, so a
// client cannot choose its own bucket. ok is false when no address could be parsed (the zero
// Addr is returned and all such requests share one bucket).
func ClientAddr(r *http.Request, trusted []netip.Prefix) (addr netip.Addr, ok bool) {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		a, err := netip.ParseAddr(r.RemoteAddr)
		if err != nil {
			return netip.Addr{}, false
		}
		peer = netip.AddrPortFrom(a, 0)
	}
	addr = peer.Addr().Unmap()
	if len(trusted) == 0 || !contains(trusted, addr) {
		return addr, true
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			hop, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return addr, true // garbage: stop at the last address we could trust
			}
			hop = hop.Unmap()
			if !contains(trusted, hop) {
				return hop, true
			}
			addr = hop
		}
	}
	return addr, true
}

func contains(prefixes []netip.Prefix, a netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParsePrefixes parses a comma-separated list of addresses and CIDR prefixes
// ("10.0.0.0/8, 192.168.1.10, fd00::/8").
func ParsePrefixes(spec string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if strings.Contains(item, "/") {
			p, err := netip.ParsePrefix(item)
			if err != nil {
				return nil, fmt.Errorf("%q is not an address or CIDR prefix", item)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or CIDR prefix", item)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
