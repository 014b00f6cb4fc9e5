#if canImport(Glibc)
import Glibc
#endif
import BerthArchive
import BerthSystem
import Foundation
import Testing

/// A network namespace of the test's own: berthd runs in it, so bridges, veths and Berth's
/// nftables table never touch the host's network. Removed at the end (with what is in it).
final class TestNetns: Sendable {
    let name: String
    init() async throws {
        name = "berth-t-" + String(Identifier.random64().prefix(8))
        for argv in [["ip", "netns", "add", name], ["ip", "-n", name, "link", "set", "lo", "up"]] {
            let r = try await Subprocess.run(argv)
            guard r.status == 0 else { throw BerthError.system("\(argv.joined(separator: " ")): \(r.stderrText)") }
        }
    }
    /// Runs a command inside the namespace (nothing else changes: same mounts, same files).
    func run(_ argv: [String]) async throws -> Subprocess.Result {
        try await Subprocess.run(["nsenter", "--net=/run/netns/" + name] + argv)
    }
    func remove() async { _ = try? await Subprocess.run(["ip", "netns", "del", name]) }
}

/// A berthd in its own namespace, with the default bridge, for the body.
func withNetworkDaemon(extraArgs: [String] = [], _ body: (TestDaemon, TestNetns) async throws -> Void) async throws {
    let ns = try await TestNetns()
    let d = try TestDaemon(extraArgs: extraArgs, netns: ns.name)
    do {
        try await d.start()
        try FS.writeAtomically(d.root + "/busybox.tar", Data(BusyboxImage.archive))
        _ = try await d.docker("load", "-i", d.root + "/busybox.tar")
        try await body(d, ns)
    } catch {
        await d.cleanup()
        await ns.remove()
        throw error
    }
    await d.cleanup()
    await ns.remove()
}

extension Gate {
    static let network = runtime && onPath("ip") && onPath("nft") && onPath("nsenter") && onPath("curl")
    static let networkReason: Comment = "needs root, runc, conmon, the docker CLI, iproute2, nftables, util-linux and curl (scripts/install-deps.sh)"
}

/// Bridge networking with the real data path, each test in a namespace of its own.
@Suite(.enabled(if: Gate.network, Gate.networkReason)) struct NetworkTests {
    func curl(_ ns: TestNetns, _ url: String) async throws -> String {
        try await ns.run(["curl", "-s", "-m", "5", url]).stdoutText
    }

    /// What the host side has that Berth could leak: links, addresses, nft elements, mounts.
    func hostState(_ ns: TestNetns, _ d: TestDaemon) async throws -> [String] {
        let links = try await ns.run(["ip", "-o", "link", "show"]).stdoutText
            .split(separator: "\n").map { String($0.split(separator: ":")[1]).trimmingCharacters(in: .whitespaces) }
        let addrs = try await ns.run(["ip", "-o", "-4", "addr", "show"]).stdoutText.split(separator: "\n").map(String.init)
        let table = try await ns.run(["nft", "list", "table", "ip", "berth"]).stdoutText
        let elements = table.split(separator: "\n").filter { $0.contains("elements") }.map(String.init)
        let mounts = (FS.readText("/proc/self/mountinfo") ?? "").split(separator: "\n")
            .filter { $0.contains(d.root) }.map { String($0.split(separator: " ")[4]) }
        return (links + addrs + elements + mounts).sorted()
    }

    @Test func publishedPortsNamesAndHairpin() async throws {
        try await withNetworkDaemon { d, ns in
            #expect(try await d.docker("network", "create", "--subnet", "10.91.0.0/24", "it-net").status == 0)
            let run = try await d.docker("run", "-d", "--name", "it-web", "--network", "it-net", "--network-alias", "www",
                                         "-p", "127.0.0.1:18181:80", "-p", "18182:80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
            #expect(run.status == 0, "\(run.stderrText)")
            // busybox httpd answers once it listens; the client retries a moment.
            #expect(await eventually(.seconds(10)) { (try? await curl(ns, "http://127.0.0.1:18181/passwd"))?.hasPrefix("root:x:0:0") == true })
            #expect(try await curl(ns, "http://10.91.0.1:18182/passwd").hasPrefix("root:x:0:0"))
            #expect(try await d.docker("port", "it-web").stdoutText.contains("80/tcp -> 127.0.0.1:18181"))
            #expect(try await d.docker("ps", "--format", "{{.Ports}}").stdoutText.contains("127.0.0.1:18181->80/tcp"))
            #expect(try await d.inspect("it-web", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}") == "10.91.0.2")

            // Names, aliases and short ids on the same network; the web server reaches itself
            // through its own published port (hairpin).
            for name in ["it-web", "www"] {
                let get = try await d.docker("run", "--rm", "--network", "it-net", "busybox", "wget", "-qO-", "http://\(name)/passwd")
                #expect(get.stdoutText.hasPrefix("root:x:0:0"), "\(name): \(get.stderrText)")
            }
            let resolv = try await d.docker("run", "--rm", "--network", "it-net", "busybox", "cat", "/etc/resolv.conf").stdoutText
            #expect(resolv.contains("nameserver 127.0.0.11") && resolv.contains("options ndots:0"))
            let selfHairpin = try await d.docker("exec", "it-web", "wget", "-qO-", "http://10.91.0.1:18182/passwd")
            #expect(selfHairpin.stdoutText.hasPrefix("root:x:0:0"), "\(selfHairpin.stderrText)")
            // The default bridge has no names (as dockerd) and is isolated from it-net.
            let isolated = try await d.docker("run", "--rm", "busybox", "wget", "-T", "2", "-qO-", "http://10.91.0.2/passwd")
            #expect(isolated.status != 0)
            #expect(try await d.docker("network", "rm", "it-net").stderrText.contains("has active endpoints"))

            // --add-host NAME:host-gateway is the default bridge's gateway.
            let gw = try await d.docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", "bridge").stdoutText
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let hosts = try await d.docker("run", "--rm", "--add-host", "gw:host-gateway", "busybox", "cat", "/etc/hosts").stdoutText
            #expect(!gw.isEmpty && hosts.contains("\(gw)\tgw"), "\(hosts)")

            // A container on a network and then connected to a second one gets eth1.
            #expect(try await d.docker("network", "connect", "bridge", "it-web").status == 0)
            let links = try await d.docker("exec", "it-web", "ls", "/sys/class/net").stdoutText
            #expect(links.split(separator: "\n").sorted() == ["eth0", "eth1", "lo"])
        }
    }

    /// The other network modes, and an internal network.
    @Test func modesAndInternalNetworks() async throws {
        try await withNetworkDaemon { d, ns in
            let none = try await d.docker("run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net")
            #expect(none.stdoutText == "lo\n")
            // host: berthd's namespace (the test's), so its loopback only.
            let host = try await d.docker("run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net")
            let nsLinks = try await ns.run(["ls", "/sys/class/net"]).stdoutText
            #expect(host.status == 0 && host.stdoutText.contains("lo") && !host.stdoutText.contains("eth0"), "\(host.stdoutText) / \(nsLinks)")
            // container:<name> shares the other's interfaces and address.
            _ = try await d.docker("run", "-d", "--name", "it-base", "busybox", "sleep", "60")
            let ip = try await d.inspect("it-base", "{{.NetworkSettings.IPAddress}}")
            let shared = try await d.docker("run", "--rm", "--network", "container:it-base", "busybox", "ip", "-4", "-o", "addr", "show", "eth0")
            #expect(!ip.isEmpty && shared.stdoutText.contains(ip + "/"), "\(shared.stdoutText) \(shared.stderrText)")
            let stopped = try await d.docker("create", "--name", "it-stopped", "busybox", "true")
            #expect(stopped.status == 0)
            let joinStopped = try await d.docker("run", "--rm", "--network", "container:it-stopped", "busybox", "true")
            #expect(joinStopped.status != 0 && joinStopped.stderrText.contains("cannot join network of a non running container"))
            // An internal network: its containers reach each other, not the gateway's other side.
            #expect(try await d.docker("network", "create", "--internal", "--subnet", "10.92.0.0/24", "it-int").status == 0)
            _ = try await d.docker("run", "-d", "--name", "it-in1", "--network", "it-int", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
            // (busybox-static's wget crashes without a default route; nc does not)
            let peer = try await d.docker("run", "--rm", "--network", "it-int", "busybox", "sh", "-c",
                                          "sleep 0.3; printf 'GET /passwd HTTP/1.0\\r\\n\\r\\n' | nc it-in1 80")
            #expect(peer.stdoutText.contains("root:x:0:0"), "\(peer.stdoutText) \(peer.stderrText)")
            let route = try await d.docker("run", "--rm", "--network", "it-int", "busybox", "ip", "route")
            #expect(!route.stdoutText.contains("default"), "\(route.stdoutText)")
            let mac = try await d.docker("run", "--rm", "--mac-address", "02:42:ac:11:00:99", "busybox", "cat", "/sys/class/net/eth0/address")
            #expect(mac.stdoutText == "02:42:ac:11:00:99\n", "\(mac.stderrText)")
            // Unknown networks and static addresses on the default bridge are refused as dockerd does.
            let missing = try await d.docker("run", "--rm", "--network", "it-nope", "busybox", "true")
            #expect(missing.status != 0 && missing.stderrText.contains("network it-nope not found"))
            let staticOnDefault = try await d.docker("run", "--rm", "--ip", "172.17.0.50", "busybox", "true")
            #expect(staticOnDefault.stderrText.contains("user specified IP address is supported on user defined networks only"))
        }
    }

    /// Legacy links on the default bridge (hosts line and variables, as dockerd writes them),
    /// links on a user network (an alias only the linking container resolves), and the errors.
    @Test func legacyLinks() async throws {
        try await withNetworkDaemon { d, ns in
            _ = try await d.docker("run", "-d", "--name", "lk-web", "--hostname", "webhost", "-e", "FOO=bar", "--expose", "80",
                                   "--expose", "53/udp", "--expose", "8000-8002", "busybox", "sleep", "300")
            let ip = try await d.inspect("lk-web", "{{.NetworkSettings.IPAddress}}")
            let r = try await d.docker("run", "--rm", "--name", "lk-app", "--link", "lk-web:db", "busybox", "sh", "-c", "cat /etc/hosts; env | sort")
            let lines = r.stdoutText.split(separator: "\n").map(String.init)
            #expect(lines.contains("\(ip)\tdb webhost lk-web"), "\(r.stdoutText) \(r.stderrText)")
            for v in ["DB_NAME=/lk-app/db", "DB_PORT=udp://\(ip):53", "DB_PORT_53_UDP=udp://\(ip):53", "DB_PORT_53_UDP_ADDR=\(ip)",
                      "DB_PORT_53_UDP_PORT=53", "DB_PORT_53_UDP_PROTO=udp", "DB_PORT_80_TCP=tcp://\(ip):80", "DB_ENV_FOO=bar",
                      "DB_PORT_8000_TCP_START=tcp://\(ip):8000", "DB_PORT_8000_TCP_PORT_START=8000", "DB_PORT_8000_TCP_END=tcp://\(ip):8002",
                      "DB_PORT_8000_TCP_PORT_END=8002", "DB_PORT_8001_TCP_ADDR=\(ip)"] {
                #expect(lines.contains(v), "\(v) missing in \(r.stdoutText)")
            }
            #expect(!lines.contains { $0.hasPrefix("DB_ENV_PATH=") })
            let plain = try await d.docker("run", "--rm", "--link", "lk-web", "busybox", "cat", "/etc/hosts")
            #expect(plain.stdoutText.contains("\(ip)\tlk-web webhost\n"), "\(plain.stdoutText)")
            let created = try await d.docker("create", "--name", "lk-later", "--link", "lk-web:db", "busybox", "true")
            #expect(created.status == 0)
            #expect(try await d.inspect("lk-later", "{{json .HostConfig.Links}}") == "[\"/lk-web:/lk-later/db\"]")

            let missing = try await d.docker("run", "--rm", "--link", "nope:n", "busybox", "true")
            #expect(missing.status == 125 && missing.stderrText.contains("could not get container for nope: No such container: nope"))
            let hostMode = try await d.docker("run", "--rm", "--network", "host", "--link", "lk-web:db", "busybox", "true")
            #expect(hostMode.stderrText.contains("conflicting options: host type networking can't be used with links"))
            _ = try await d.docker("create", "--name", "lk-stopped", "busybox", "true")
            let toStopped = try await d.docker("run", "--rm", "--name", "lk-x", "--link", "lk-stopped:s", "busybox", "true")
            #expect(toStopped.stderrText.contains("Cannot link to a non running container: /lk-stopped AS /lk-x/s"), "\(toStopped.stderrText)")

            // On a user network: the alias resolves for the linking container only.
            #expect(try await d.docker("network", "create", "lk-net").status == 0)
            _ = try await d.docker("run", "-d", "--name", "lk-db", "--network", "lk-net", "busybox", "sleep", "300")
            let dbIP = try await d.inspect("lk-db", "{{(index .NetworkSettings.Networks \"lk-net\").IPAddress}}")
            let viaAlias = try await d.docker("run", "--rm", "--network", "lk-net", "--link", "lk-db:store", "busybox", "nslookup", "store")
            #expect(viaAlias.stdoutText.contains("Address: \(dbIP)\n"), "\(viaAlias.stdoutText) \(viaAlias.stderrText)")
            let other = try await d.docker("run", "--rm", "--network", "lk-net", "busybox", "nslookup", "store")
            #expect(!other.stdoutText.contains("Address: \(dbIP)"), "\(other.stdoutText)")
        }
    }

    /// IPv6 beside IPv4: a user network with a subnet given (addresses, routes, AAAA, static
    /// --ip6, ports published on the IPv6 gateway too), one with a unique local /64 of its own,
    /// and the default bridge with --ipv6 --fixed-cidr-v6.
    @Test func ipv6Networks() async throws {
        try await withNetworkDaemon(extraArgs: ["--ipv6", "--fixed-cidr-v6", "fd00:b0::/64"]) { d, ns in
            #expect(try await d.docker("network", "create", "--ipv6", "--subnet", "fd00:5a::/64", "v6-net").status == 0)
            let run = try await d.docker("run", "-d", "--name", "v6-web", "--network", "v6-net", "-p", "18300:80",
                                         "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
            #expect(run.status == 0, "\(run.stderrText)")
            #expect(try await d.inspect("v6-web", "{{(index .NetworkSettings.Networks \"v6-net\").GlobalIPv6Address}}") == "fd00:5a::2")
            #expect(try await d.inspect("v6-web", "{{(index .NetworkSettings.Networks \"v6-net\").IPv6Gateway}}") == "fd00:5a::1")
            #expect(try await d.docker("ps", "--format", "{{.Ports}}", "-f", "name=v6-web").stdoutText
                    == "0.0.0.0:18300->80/tcp, [::]:18300->80/tcp\n")
            let peer = try await d.docker("run", "--rm", "--network", "v6-net", "--ip6", "fd00:5a::99", "busybox", "sh", "-c",
                                          "ip -6 -o addr show eth0 scope global; nslookup -type=aaaa v6-web; ping -6 -c1 -W3 v6-web; wget -qO- 'http://[fd00:5a::2]/passwd'")
            #expect(peer.stdoutText.contains("inet6 fd00:5a::99/64"), "\(peer.stdoutText) \(peer.stderrText)")
            #expect(peer.stdoutText.contains("Address: fd00:5a::2\n"), "\(peer.stdoutText)")
            #expect(peer.stdoutText.contains("1 packets received") && peer.stdoutText.contains("root:x:0:0"), "\(peer.stdoutText)")
            // The host reaches the published port on its IPv6 address (the gateway's) as on IPv4.
            #expect(try await curl(ns, "http://[fd00:5a::1]:18300/passwd").hasPrefix("root:x:0:0"))
            #expect(try await curl(ns, "http://127.0.0.1:18300/passwd").hasPrefix("root:x:0:0"))
            let outside = try await d.docker("run", "--rm", "--network", "v6-net", "--ip6", "fd00:77::9", "busybox", "true")
            #expect(outside.status != 0 && outside.stderrText.contains("does not belong to any of this network's subnets"))

            #expect(try await d.docker("network", "create", "--ipv6", "v6-auto").status == 0)
            let config = try await d.docker("network", "inspect", "-f", "{{json .IPAM.Config}}", "v6-auto").stdoutText
            #expect(config.contains("\"Subnet\":\"fd") && config.contains("::/64"), "\(config)")

            let onDefault = try await d.docker("run", "--rm", "busybox", "ip", "-6", "-o", "addr", "show", "eth0", "scope", "global")
            #expect(onDefault.stdoutText.contains("inet6 fd00:b0::2/64"), "\(onDefault.stdoutText) \(onDefault.stderrText)")
            #expect(try await d.docker("network", "inspect", "-f", "{{.EnableIPv6}}", "bridge").stdoutText == "true\n")
        }
    }

    /// --userland-proxy=true: published ports are listened on too (TCP and UDP, IPv4 and IPv6,
    /// so the IPv6 loopback reaches the container, which DNAT cannot do), a port a host process
    /// holds is refused with dockerd's text, and the listeners go with the container.
    @Test func userlandProxy() async throws {
        try await withNetworkDaemon(extraArgs: ["--userland-proxy=true"]) { d, ns in
            let layer = try ImageArchive.layer([(TarEntry(name: "usr/bin/udpecho", kind: .file, mode: 0o755), StaticProbe.udpEcho)])
            _ = try await d.client.loadImage(try ImageArchive.make(tag: "udpecho:1", layers: [BusyboxImage.layer, layer], cmd: ["udpecho", "7"]))
            #expect(try await d.docker("run", "-d", "--name", "px-web", "-p", "18410:80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc").status == 0)
            #expect(try await d.docker("run", "-d", "--name", "px-udp", "-p", "18411:7/udp", "udpecho:1").status == 0)
            #expect(await eventually(.seconds(10)) { (try? await curl(ns, "http://[::1]:18410/passwd"))?.hasPrefix("root:x:0:0") == true })
            #expect(try await curl(ns, "http://127.0.0.1:18410/passwd").hasPrefix("root:x:0:0"))
            for host in ["::1", "127.0.0.1"] {
                let udp = try await ns.run(["python3", "-c", """
                    import socket
                    s = socket.socket(socket.AF_INET6 if ':' in '\(host)' else socket.AF_INET, socket.SOCK_DGRAM)
                    s.settimeout(5)
                    s.sendto(b'ping-\(host)', ('\(host)', 18411))
                    print(s.recvfrom(100)[0].decode())
                    """])
                #expect(udp.stdoutText == "ping-\(host)\n", "\(udp.stdoutText) \(udp.stderrText)")
            }
            // A port some host process listens on cannot be published.
            let holder = try Subprocess.spawn(["nsenter", "--net=/run/netns/" + ns.name, "python3", "-c",
                                               "import socket,time\ns=socket.socket()\ns.bind(('0.0.0.0',18412))\ns.listen()\nprint('ready',flush=True)\ntime.sleep(30)"],
                                              stdout: .null)
            defer { kill(holder, SIGKILL); _ = Subprocess.waitStatus(holder) }
            #expect(await eventually(.seconds(10)) { (try? await ns.run(["ss", "-ltn", "sport = :18412"]))?.stdoutText.contains("18412") == true })
            let taken = try await d.docker("run", "-d", "-p", "18412:80", "busybox", "sleep", "30")
            #expect(taken.status != 0 && taken.stderrText.contains("Error starting userland proxy: listen tcp4 0.0.0.0:18412: bind: address already in use"),
                    "\(taken.stderrText)")
            #expect(try await d.docker("rm", "-f", "px-web").status == 0)
            #expect(try await ns.run(["ss", "-ltn", "sport = :18410"]).stdoutText.contains("18410") == false)
        }
    }

    /// Containers on a user network started all at once: one resolver process serves them all
    /// (requests to it take turns; it is started once), and each finds the others.
    @Test func parallelStartsShareOneResolver() async throws {
        try await withNetworkDaemon { d, ns in
            #expect(try await d.docker("network", "create", "par-net").status == 0)
            let names = (0..<8).map { "par-\($0)" }
            for n in names { _ = try await d.docker("create", "--name", n, "--network", "par-net", "busybox", "sleep", "300") }
            try await withThrowingTaskGroup(of: Subprocess.Result.self) { g in
                for n in names { g.addTask { try await d.docker("start", n) } }
                for try await r in g { #expect(r.status == 0, "\(r.stderrText)") }
            }
            let resolvers = try await Subprocess.run(["pgrep", "-f", "resolver --log-level .* --exec-root " + d.root + "/exec "]).stdoutText
            #expect(resolvers.split(separator: "\n").count == 1, "\(resolvers)")
            let lookup = try await d.docker("exec", "par-0", "sh", "-c", "for n in par-1 par-5 par-7; do nslookup $n >/dev/null || echo missing $n; done; echo done")
            #expect(lookup.stdoutText == "done\n", "\(lookup.stdoutText) \(lookup.stderrText)")
        }
    }

    /// A bridge left in the namespace by an earlier berthd (another data root, another address)
    /// is taken over with the address this berthd gives it.
    @Test func leftoverBridgeGetsTheRightAddress() async throws {
        let ns = try await TestNetns()
        defer { Task { await ns.remove() } }
        for argv in [["ip", "link", "add", "berth0", "type", "bridge"], ["ip", "addr", "add", "172.17.0.1/16", "dev", "berth0"]] {
            #expect(try await ns.run(argv).status == 0)
        }
        let d = try TestDaemon(extraArgs: ["--bip", "10.93.0.1/24"], netns: ns.name)
        do {
            try await d.start()
            let addrs = try await ns.run(["ip", "-o", "-4", "addr", "show", "dev", "berth0"]).stdoutText
            #expect(addrs.contains("10.93.0.1/24") && !addrs.contains("172.17.0.1"), "\(addrs)")
            try FS.writeAtomically(d.root + "/busybox.tar", Data(BusyboxImage.archive))
            _ = try await d.docker("load", "-i", d.root + "/busybox.tar")
            _ = try await d.docker("run", "-d", "--name", "it-left", "-p", "127.0.0.1:18195:80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
            #expect(await eventually(.seconds(10)) { (try? await curl(ns, "http://127.0.0.1:18195/passwd"))?.hasPrefix("root:x:0:0") == true })
        } catch { await d.cleanup(); throw error }
        await d.cleanup()
    }

    /// Starting and removing containers with published ports leaves the host as it was.
    @Test func nothingLeaksAcrossCycles() async throws {
        try await withNetworkDaemon { d, ns in
            _ = try await d.docker("run", "--rm", "busybox", "true")   // the bridge and table exist from here on
            let before = try await hostState(ns, d)
            for i in 0..<20 {
                let r = try await d.docker("run", "-d", "--name", "it-cycle-\(i)", "-p", "1900\(i % 10):80", "-p", "80", "busybox", "sleep", "60")
                #expect(r.status == 0, "\(r.stderrText)")
                #expect(try await d.docker("rm", "-f", "it-cycle-\(i)").status == 0)
            }
            // The kernel removes a destroyed namespace's veths on its own time (milliseconds).
            let settled = await eventually(.seconds(5)) { (try? await hostState(ns, d)) == before }
            let after = try await hostState(ns, d)
            #expect(settled, "\(after) != \(before)")
        }
    }

    /// berthd killed and started again: running containers keep their ports and their DNS.
    @Test func daemonRestartKeepsPortsAndNames() async throws {
        try await withNetworkDaemon { d, ns in
            #expect(try await d.docker("network", "create", "it-keep").status == 0)
            _ = try await d.docker("run", "-d", "--name", "it-srv", "--network", "it-keep", "-p", "18190:80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
            _ = try await d.docker("run", "-d", "--name", "it-cli", "--network", "it-keep", "busybox", "sleep", "300")
            #expect(await eventually(.seconds(10)) { (try? await curl(ns, "http://127.0.0.1:18190/passwd"))?.hasPrefix("root:x:0:0") == true })
            let srvIP = try await d.docker("inspect", "-f", "{{(index .NetworkSettings.Networks \"it-keep\").IPAddress}}", "it-srv")
                .stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
            let cliID = try await d.docker("inspect", "-f", "{{.Id}}", "it-cli").stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(IPv4Text.isAddress(srvIP) && cliID.count == 64)
            kill(d.pid, SIGKILL)
            _ = Subprocess.waitStatus(d.pid)
            // berthd is down: names (and addresses, backwards) still resolve inside the containers.
            let runc = ["runc", "--root", d.root + "/exec/runc", "exec", cliID]
            let forward = try await Subprocess.run(runc + ["nslookup", "it-srv"])
            #expect(forward.stdoutText.contains("Address: " + srvIP + "\n"), "\(forward.stdoutText)\(forward.stderrText)")
            let reverse = try await Subprocess.run(runc + ["nslookup", srvIP])
            #expect(reverse.stdoutText.contains("it-srv.it-keep"), "\(reverse.stdoutText)\(reverse.stderrText)")
            try await d.start()
            #expect(try await curl(ns, "http://127.0.0.1:18190/passwd").hasPrefix("root:x:0:0"))
            let byName = try await d.docker("exec", "it-cli", "wget", "-qO-", "http://it-srv/passwd")
            #expect(byName.stdoutText.hasPrefix("root:x:0:0"), "\(byName.stderrText)")
            #expect(try await d.docker("stop", "-t", "0", "it-srv").status == 0)
            #expect(try await curl(ns, "http://127.0.0.1:18190/passwd").isEmpty)
            // With no container left to serve and berthd gone, the resolver process leaves too.
            #expect(try await d.docker("rm", "-f", "it-cli", "it-srv").status == 0)
            d.terminate()
            let resolvers = { try await Subprocess.run(["pgrep", "-f", "resolver --log-level .* --exec-root " + d.root]).stdoutText }
            #expect(await eventually(.seconds(10)) { (try? await resolvers())?.isEmpty == true })
        }
    }
}

enum IPv4Text {
    static func isAddress(_ s: String) -> Bool {
        let p = s.split(separator: ".")
        return p.count == 4 && p.allSatisfy { UInt8($0) != nil }
    }
}
