/// Berth's nftables table (`table ip berth`), as text for `nft -f`. The rules never change;
/// networks and published ports are elements of its sets and maps, so adding or removing one
/// is a single atomic element change.
///
/// - `bridges`/`pairs`: Berth's bridges, and each bridge paired with itself: traffic between two
///   different bridges is dropped (networks are isolated, as dockerd's isolation chains do).
/// - `internal`: bridges without a way out.
/// - `nat_subnets`: subnets masqueraded when leaving through anything but a bridge.
/// - `subnets`: all subnets; a container reaching a published port of its own network (through
///   the host's address) is masqueraded so the answer comes back the same way (hairpin).
/// - `tcp_any`/`udp_any` (host port) and `tcp_ip`/`udp_ip` (host address . port): DNAT maps.
///   Locally sourced traffic into a bridge after DNAT (`127.0.0.1:port`) is masqueraded; the
///   bridges have route_localnet on.
///
/// `table ip6 berth` is the same for IPv6 (subnets of networks with IPv6; ports published on
/// every address of containers with an IPv6 address).
enum NftRules {
    static let table = "berth"

    /// One family's table: `ip` (addr type ipv4_addr) or `ip6` (ipv6_addr).
    static func table(_ family: String) -> String {
        let addr = family == "ip" ? "ipv4_addr" : "ipv6_addr"
        return """
        add table \(family) berth
        delete table \(family) berth
        table \(family) berth {
          set bridges { type ifname; }
          set internal { type ifname; }
          set pairs { type ifname . ifname; }
          set nat_subnets { type \(addr); flags interval; }
          set subnets { type \(addr); flags interval; }
          map tcp_any { type inet_service : \(addr) . inet_service; }
          map udp_any { type inet_service : \(addr) . inet_service; }
          map tcp_ip { type \(addr) . inet_service : \(addr) . inet_service; }
          map udp_ip { type \(addr) . inet_service : \(addr) . inet_service; }
          chain prerouting {
            type nat hook prerouting priority dstnat; policy accept;
            fib daddr type local dnat \(family) to \(family) daddr . tcp dport map @tcp_ip
            fib daddr type local dnat \(family) to \(family) daddr . udp dport map @udp_ip
            fib daddr type local dnat \(family) to tcp dport map @tcp_any
            fib daddr type local dnat \(family) to udp dport map @udp_any
          }
          chain output {
            type nat hook output priority -100; policy accept;
            fib daddr type local dnat \(family) to \(family) daddr . tcp dport map @tcp_ip
            fib daddr type local dnat \(family) to \(family) daddr . udp dport map @udp_ip
            fib daddr type local dnat \(family) to tcp dport map @tcp_any
            fib daddr type local dnat \(family) to udp dport map @udp_any
          }
          chain postrouting {
            type nat hook postrouting priority srcnat; policy accept;
            oifname @bridges ct status dnat fib saddr type local masquerade
            oifname @bridges ct status dnat \(family) saddr @subnets masquerade
            \(family) saddr @nat_subnets oifname != @bridges masquerade
          }
          chain forward {
            type filter hook forward priority filter; policy accept;
            iifname @bridges oifname @bridges iifname . oifname != @pairs drop
            iifname @internal iifname . oifname != @pairs drop
            oifname @internal iifname . oifname != @pairs drop
          }
        }

        """
    }

    static func ruleset(bridges: [BridgeSpec], ports: [PortMapping]) -> String {
        var s = table("ip") + table("ip6")
        for b in bridges { s += bridgeElements(b, verb: "add") }
        s += portElements(ports, verb: "add")
        return s
    }

    static func bridgeElements(_ b: BridgeSpec, verb: String) -> String {
        var s = ""
        // Every bridge is in both tables: isolation holds for IPv6 traffic too.
        for family in ["ip", "ip6"] {
            s += "\(verb) element \(family) berth bridges { \"\(b.name)\" }\n"
            s += "\(verb) element \(family) berth pairs { \"\(b.name)\" . \"\(b.name)\" }\n"
            if b.internal { s += "\(verb) element \(family) berth internal { \"\(b.name)\" }\n" }
        }
        s += "\(verb) element ip berth subnets { \(b.subnet) }\n"
        if !b.internal { s += "\(verb) element ip berth nat_subnets { \(b.subnet) }\n" }
        if let s6 = b.subnet6 {
            s += "\(verb) element ip6 berth subnets { \(s6) }\n"
            if !b.internal { s += "\(verb) element ip6 berth nat_subnets { \(s6) }\n" }
        }
        return s
    }

    static func portElements(_ ports: [PortMapping], verb: String) -> String {
        var s = ""
        for p in ports where p.proto == "tcp" || p.proto == "udp" {
            let value = verb == "delete" ? "" : " : \(p.containerIP) . \(p.containerPort)"
            if let ip = p.hostIP {
                s += "\(verb) element ip berth \(p.proto)_ip { \(ip) . \(p.hostPort)\(value) }\n"
            } else {
                s += "\(verb) element ip berth \(p.proto)_any { \(p.hostPort)\(value) }\n"
                if let ip6 = p.containerIP6 {
                    let value6 = verb == "delete" ? "" : " : \(ip6) . \(p.containerPort)"
                    s += "\(verb) element ip6 berth \(p.proto)_any { \(p.hostPort)\(value6) }\n"
                }
            }
        }
        return s
    }
}
