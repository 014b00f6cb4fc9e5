#if canImport(Glibc)
import Glibc
#endif
import BerthAPI
import BerthArchive
import BerthBuild
import BerthEngine
import BerthExecutor
import BerthImage
import BerthModels
import BerthNetwork
import BerthRegistry
import BerthSystem
import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1

/// One fuzz target: bytes in, nothing out. A target may throw away any error the code under
/// test reports; what it must never do is trap, hang or grow without bound. Where a result can
/// be checked against another way of computing it, the target traps on a mismatch so the
/// fuzzer reports it.
public struct FuzzTarget: Sendable {
    public let name: String
    public let run: @Sendable ([UInt8]) -> Void
}

public enum FuzzTargets {
    public static let all: [FuzzTarget] = [
        FuzzTarget(name: "tar", run: tar),
        FuzzTarget(name: "archive", run: archive),
        FuzzTarget(name: "time", run: time),
        FuzzTarget(name: "http", run: http),
        FuzzTarget(name: "json", run: json),
        FuzzTarget(name: "config", run: config),
        FuzzTarget(name: "websocket", run: websocket),
        FuzzTarget(name: "dns", run: dns),
        FuzzTarget(name: "netaddr", run: netaddr),
        FuzzTarget(name: "dockerfile", run: dockerfile),
    ]

    /// A query to the embedded resolver, as a container may send any datagram: parsed, and when
    /// it parses, answered; the answer echoes the id and the question and holds the records.
    @Sendable static func dns(_ data: [UInt8]) {
        guard let q = DNSQuery(data) else { return }
        if q.questionEnd > data.count || q.name.utf8.count > 255 { fatalError("dns: question past the datagram") }
        let addrs = [IPv4(0x0a00_0002), IPv4(0x0a00_0003)]
        let a = q.answer(data, addresses: addrs)
        if a.count != q.questionEnd + 16 * addrs.count || a[0] != data[0] || a[1] != data[1] {
            fatalError("dns: answer of \(a.count) bytes for a question ending at \(q.questionEnd)")
        }
        if DNSQuery(a) != nil { fatalError("dns: an answer parsed as a query") }
        // A reverse name of a container: the pointer answer names it, within the label limits.
        if let r = q.reverseAddress {
            let p = q.answer(data, pointer: r + "." + q.name)
            if p.count > q.questionEnd + 12 + 256 + q.name.utf8.count + 32 { fatalError("dns: pointer answer of \(p.count) bytes") }
        }
    }

    /// Addresses, subnets and pools as users give them (`--subnet`, `--ip`, `--bip`,
    /// `--default-address-pool`): parsed without trapping; what parses prints back the same.
    @Sendable static func netaddr(_ data: [UInt8]) {
        let text = String(decoding: data.prefix(256), as: UTF8.self)
        if let ip = IPv4(text), ip.description != text { fatalError("netaddr: \(text) printed as \(ip)") }
        if let s = Subnet(text, strict: true) {
            if s.description != text { fatalError("netaddr: \(text) printed as \(s)") }
            _ = IPAM.pick(subnet: s, range: nil, gateway: s.firstHost, used: [])
        }
        if let ip = IPv6(text), IPv6(ip.description) != ip { fatalError("netaddr: \(text) does not read back from \(ip)") }
        if let s = Subnet6(text) {
            if Subnet6(s.description, strict: true) != s { fatalError("netaddr: \(text) printed as \(s)") }
            _ = s.pick(gateway: s.firstHost, used: [s.firstHost.adding(1).description])
        }
        if let pool = AddressPools.parse(text) {
            _ = AddressPools.choose(from: [pool], avoiding: [Subnet("10.0.0.0/8")!])
        }
    }

    /// A Dockerfile from a build context (anyone who can build sends it): parsed, and every
    /// instruction's words expanded as the builder would, without trapping or growing unbounded.
    @Sendable static func dockerfile(_ data: [UInt8]) {
        guard let d = try? Dockerfile(parsing: String(decoding: data, as: UTF8.self)) else { return }
        let sh = ShellWords(escape: d.escape)
        let env = ["A": "a", "B": "${A}", "E": "", "LONG": String(repeating: "x", count: 4096)]
        for i in d.instructions {
            if i.line < 1 || i.keyword.isEmpty { fatalError("dockerfile: instruction without line or keyword") }
            for a in i.args {
                if let w = try? sh.words(a, env: env), w.contains(where: { $0.utf8.count > ShellWords.maxLength }) {
                    fatalError("dockerfile: a word past the limit")
                }
                _ = try? sh.pairs(a, env: env, keyword: i.keyword)
                // Splitting without expansion only splits: nothing is added or lost but blanks.
                let words = ShellWords.unquotedWords(a, escape: d.escape)
                if words.joined().filter({ $0 != " " && $0 != "\t" }).count > a.filter({ $0 != " " && $0 != "\t" }).count {
                    fatalError("dockerfile: splitting made characters")
                }
            }
        }
        // The stages and what a build of the last one needs: only earlier stages, in order.
        if let plan = try? BuildPlan(d), let needed = try? plan.needed(target: nil) {
            if needed != needed.sorted() || needed.last != plan.stages.count - 1 { fatalError("dockerfile: stages out of order") }
        }
    }

    public static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }

    /// The tar reader as unpacking drives it: every entry, every byte of data.
    @Sendable static func tar(_ data: [UInt8]) {
        var r = TarReader(MemoryReader(data), bufferSize: 4096)
        var entries = 0
        while entries < 100_000 {
            guard let e = try? r.next() else { return }
            entries += 1
            _ = cleanArchivePath(e.name)
            _ = cleanArchivePath(e.linkName, clamp: true)
            var seen: Int64 = 0
            do { try r.readData { seen += Int64($0.count) } } catch { return }
            if e.kind == .file && seen != e.size { fatalError("tar: read \(seen) bytes of a \(e.size)-byte entry") }
        }
    }

    /// A scratch file for the archive index (it reads through a descriptor).
    static let scratch: Int32 = {
        let path = "/tmp/berth-fuzz-scratch-\(getpid())"
        let fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0o600)
        precondition(fd >= 0, "cannot create a scratch file in /tmp")
        unlink(path)
        return fd
    }()

    /// `docker load`'s reading of an archive: its table of contents, then manifests and configs.
    @Sendable static func archive(_ data: [UInt8]) {
        let fd = scratch
        guard ftruncate(fd, 0) == 0 else { return }
        let wrote = data.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        guard wrote == data.count, let index = try? ArchiveIndex(fd: fd) else { return }
        guard let images = try? ArchiveContents.read(index) else { return }
        for i in images {
            if i.config.rootfs.diff_ids.count != i.layerMembers.count { fatalError("archive: layer count mismatch passed") }
            _ = Digest.chainIDs(i.config.rootfs.diff_ids)
        }
    }

    /// Times, sizes, signals and filters as API parameters bring them.
    @Sendable static func time(_ data: [UInt8]) {
        let s = String(decoding: data, as: UTF8.self)
        if let v = Timestamp.parseRFC3339(s), v != Int64.max, v != Int64.min {
            let back = Timestamp.parseRFC3339(Timestamp.rfc3339(nanos: v))
            if back != v { fatalError("time: \(s) → \(v) → \(Timestamp.rfc3339(nanos: v)) → \(String(describing: back))") }
        }
        if let v = Timestamp.parseDockerTime(s) { _ = Timestamp.rfc3339Fixed(nanos: v) }
        _ = try? Signals.parse(s)
        if let n = LogLimits.parseSize(s), n < 0 { fatalError("size: \(s) → \(n)") }
        _ = try? Filters(json: s)
        _ = try? Digest(parsing: s)
        _ = try? ImageReference(parse: s)
        _ = try? PullService.platform(s)
        _ = AuthChallenge(header: s)
        _ = AuthConfig.fromHeader(s)
    }

    /// Request heads as NIO's decoder delivers them, then Berth's handling of the target.
    @Sendable static func http(_ data: [UInt8]) {
        let channel = EmbeddedChannel()
        defer { _ = try? channel.finish() }
        guard (try? channel.pipeline.syncOperations.addHandler(
            ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)))) != nil else { return }
        _ = try? channel.writeInbound(ByteBuffer(bytes: data))
        while let part = try? channel.readInbound(as: HTTPServerRequestPart.self) {
            guard case .head(let head) = part else { continue }
            let (version, path, query) = Router.parseTarget(head.uri)
            if let version { _ = APIVersion(version) }
            _ = path.split(separator: "/")
            _ = query.count
            _ = head.isKeepAlive
            _ = AuthConfig.fromHeader(head.headers.first(name: "X-Registry-Auth"))
        }
    }

    /// JSON bodies and documents, the first byte choosing the model.
    @Sendable static func json(_ data: [UInt8]) {
        guard let kind = data.first else { return }
        let body = Data(data.dropFirst())
        let d = JSONDecoder()
        switch kind % 8 {
        case 0:
            guard let b = try? d.decode(ContainerCreateBody.self, from: body) else { return }
            resources(b.hostConfig)
            _ = ContainerService.commandLine(b.config)
        case 1:
            guard let hc = try? d.decode(HostConfig.self, from: body) else { return }
            resources(hc)
        case 2: _ = try? d.decode(ExecConfig.self, from: body)
        case 3: _ = try? d.decode(ImageConfigFile.self, from: body)
        case 4: _ = try? d.decode(ImageManifest.self, from: body)
        case 5: _ = (try? d.decode(ManifestIndex.self, from: body))?.select(os: "linux", architecture: "amd64")
        case 6: _ = (try? d.decode(AuthConfig.self, from: body))?.normalised
        default: _ = try? d.decode(JSONValue.self, from: body)
        }
    }

    static func resources(_ hc: HostConfig) {
        guard (try? ResourceRules.check(hc, cpus: 2)) != nil else { return }
        _ = ResourceMapping.resources(hc)
        _ = try? LogOptions.limits(hc.LogConfig, defaults: .defaults)
        _ = try? ContainerSpecs.make(id: String(repeating: "a", count: 64), name: "/fuzz", config: ContainerConfig(),
                                     hostConfig: hc, layers: [], logDefaults: .defaults)
    }

    /// The image config merged into the container's, then `docker commit --change` lines.
    /// Input: user config JSON, NUL, image config JSON, NUL, change lines.
    @Sendable static func config(_ data: [UInt8]) {
        let parts = data.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
        let d = JSONDecoder()
        let user = parts.count > 0 ? (try? d.decode(ContainerConfig.self, from: Data(parts[0]))) ?? ContainerConfig() : ContainerConfig()
        let image = parts.count > 1 ? (try? d.decode(ContainerConfig.self, from: Data(parts[1]))) ?? ContainerConfig() : ContainerConfig()
        var merged = ContainerService.merge(user, image: image)
        let changes = parts.count > 2 ? String(decoding: parts[2], as: UTF8.self).split(separator: "\n").map(String.init) : []
        _ = try? CommitChanges.apply(changes, to: &merged)
        _ = ContainerService.argv(merged)
        _ = ContainerService.commandLine(merged)
        _ = try? JSONEncoder().encode(merged)
    }

    /// The websocket frame decoder of attach/ws, fed in pieces of every size.
    @Sendable static func websocket(_ data: [UInt8]) {
        var whole = WebSocket.Decoder()
        let frames = (try? whole.feed(data)) ?? []
        var pieces = WebSocket.Decoder()
        var again: [WebSocket.Frame] = []
        var failed = false
        var i = 0, step = 1
        while i < data.count && !failed {
            let end = min(data.count, i + step)
            do { again += try pieces.feed(Array(data[i..<end])) } catch { failed = true }
            i = end
            step = step % 7 + 1
        }
        if !failed && again != frames { fatalError("websocket: frames differ when fed in pieces") }
        for f in frames { _ = WebSocket.encode(f.opcode, f.payload) }
    }
}
