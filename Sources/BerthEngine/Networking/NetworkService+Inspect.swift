import BerthModels
import BerthNetwork
import BerthStore
import Foundation

extension NetworkService {
    /// `NetworkSettings` of a container: its endpoints (with addresses while it runs) and ports.
    nonisolated func settings(_ c: ContainerRecord, _ hc: HostConfig, running: Bool) -> NetworkSettings {
        let mode = hc.NetworkMode ?? "bridge"
        var nets: [String: EndpointSettings] = [:]
        var top: EndpointSettings? = nil
        let dec = JSONDecoder()
        let endpoints = (try? store.endpoints(container: c.id)) ?? []
        if endpoints.isEmpty {
            let name = mode.hasPrefix("container:") ? nil : (mode == "default" ? "bridge" : mode)
            if let name {
                var s = EndpointSettings(networkID: (try? store.network(named: name))??.id ?? "")
                s.DriverOpts = nil
                nets[name] = s
            }
        }
        for e in endpoints {
            guard let n = try? store.network(e.network_id) else { continue }
            var s = (try? dec.decode(EndpointSettings.self, from: e.config)) ?? EndpointSettings(networkID: n.id)
            s.NetworkID = n.id
            s.EndpointID = e.endpoint_id
            s.MacAddress = e.mac
            s.IPAddress = e.ip
            if !e.ip.isEmpty {
                s.Gateway = n.gateway
                s.IPPrefixLen = Subnet(n.subnet)?.prefix ?? 0
            }
            if !e.ip6.isEmpty {
                s.GlobalIPv6Address = e.ip6
                s.GlobalIPv6PrefixLen = Subnet6(n.subnet6)?.prefix ?? 0
                s.IPv6Gateway = n.gateway6
            }
            if isUserDefined(n) {
                var names = [c.name, String(c.id.prefix(12))]
                for a in s.Aliases ?? [] where !names.contains(a) { names.append(a) }
                s.DNSNames = names
            }
            if n.name == "bridge" { top = s }
            nets[n.name] = s
        }
        var out = NetworkSettings(sandboxKey: running && FileManager.default.fileExists(atPath: sandboxPath(c.id)) ? sandboxPath(c.id) : "",
                                  networks: nets)
        if let top, running {
            out.EndpointID = top.EndpointID; out.Gateway = top.Gateway; out.IPAddress = top.IPAddress
            out.IPPrefixLen = top.IPPrefixLen; out.MacAddress = top.MacAddress
            out.GlobalIPv6Address = top.GlobalIPv6Address; out.GlobalIPv6PrefixLen = top.GlobalIPv6PrefixLen
            out.IPv6Gateway = top.IPv6Gateway
        }
        if running, !c.ports.isEmpty, let p = try? dec.decode([String: [PortBinding]?].self, from: Data(c.ports.utf8)) {
            out.Ports = p
        }
        return out
    }

    /// The `Ports` of a container summary.
    nonisolated static func summaryPorts(_ ports: String) -> [PortSummary] {
        guard !ports.isEmpty, let p = try? JSONDecoder().decode([String: [PortBinding]?].self, from: Data(ports.utf8)) else { return [] }
        return PortRequest.summary(p)
    }
}
