#if canImport(Glibc)
import Glibc
#endif
import BerthNetwork
import BerthStore
import BerthSystem
import Foundation
import Logging
import Synchronization
import NIOCore
import NIOPosix

/// `berthd resolver`: the process that answers at 127.0.0.11 for containers on user networks.
/// berthd starts it (in a session of its own) and tells it which containers to serve; it reads
/// names from the store itself, so containers keep finding each other while berthd is down or
/// restarting. It leaves when nobody needs it: no berthd connected and no container served
/// (containers that exit while berthd is away are noticed by their exit files).
public enum ResolverDaemon {
    public static func run(execRoot: String, database: String) async throws {
        let log = Log.logger("resolver")
        let store = try Store(path: database, migrate: false)
        let state = ResolverState(dns: EmbeddedDNS.fromStore(store, upstreams: EmbeddedDNS.hostUpstreams))
        let path = ResolverPaths.socket(execRoot: execRoot)
        let ready = Array("ready\n".utf8)
        // One resolver per exec root: one that answers already is the one berthd will use.
        if let other = try? Syscall.connectUnix(path, type: Int32(SOCK_STREAM.rawValue)) {
            close(other)
            _ = ready.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
            log.info("a resolver runs already for \(execRoot)")
            return
        }
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineDecoder()))
                    try ch.pipeline.syncOperations.addHandler(ControlHandler(state: state))
                }
            }
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
        chmod(path, 0o600)
        let exits = execRoot + "/exits"
        try FS.mkdirAll(exits)
        let watch = try FileWatcher.shared.watch(exits, mask: UInt32(IN_CLOSE_WRITE) | UInt32(IN_MOVED_TO) | UInt32(IN_DELETE_SELF)) { name in
            Task { await state.exited(name) }
        }
        // berthd waits for this line before it connects.
        _ = ready.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
        let null = open("/dev/null", O_WRONLY)
        dup2(null, 1)
        close(null)
        log.info("resolver ready", metadata: ["socket": "\(path)"])
        await state.untilIdle()
        FileWatcher.shared.unwatch(watch)
        try? await server.close().get()
        log.info("resolver leaves: no berthd and no container to serve")
    }
}

/// The resolver process's bookkeeping: connected berthds and served containers.
actor ResolverState {
    let dns: EmbeddedDNS
    /// Connected berthds (counted as connections open and close, in order).
    nonisolated let controls = Mutex(0)
    var idle: CheckedContinuation<Void, Never>?
    var finished = false
    let log = Log.logger("resolver")

    init(dns: EmbeddedDNS) { self.dns = dns }

    func untilIdle() async {
        if finished { return }
        await withCheckedContinuation { idle = $0 }
    }

    func finish() {
        finished = true
        idle?.resume()
        idle = nil
    }

    func handle(_ r: ResolverRequest) async -> ResolverReply {
        switch r.op {
        case .serve:
            do {
                guard Identifier.isHex(r.id), r.id.count == 64 else { throw BerthError.invalid("bad container id") }
                // Asked again (a berthd giving a new resolver what it served): nothing to do.
                if dns.isServing(r.id) { return ResolverReply() }
                let udp = try LinuxNetworkHost.socket(inSandbox: r.sandbox, address: ResolverAddress.ip, port: 53, stream: false)
                let tcp: Int32
                do { tcp = try LinuxNetworkHost.socket(inSandbox: r.sandbox, address: ResolverAddress.ip, port: 53, stream: true) }
                catch { close(udp); throw error }
                do { try await dns.serve(containerID: r.id, udp: udp, tcp: tcp, upstreams: r.upstreams) }
                catch { close(udp); close(tcp); throw error }
                return ResolverReply()
            } catch {
                return ResolverReply(error: "\(error)")
            }
        case .stop:
            await dns.stop(containerID: r.id)
            return ResolverReply()
        case .list:
            return ResolverReply(ids: dns.servedIDs)
        }
    }

    nonisolated func connected() { controls.withLock { $0 += 1 } }

    nonisolated func disconnected() {
        controls.withLock { $0 -= 1 }
        Task { await checkIdle() }
    }

    func checkIdle() {
        if controls.withLock({ $0 }) == 0 && dns.servedIDs.isEmpty { finish() }
    }

    /// An exit file appeared (or the exits directory went: the exec root is gone). While berthd
    /// is connected it tears containers down itself (and may restart them): nothing to do then.
    func exited(_ name: String) async {
        if name.isEmpty { finish(); return }
        guard controls.withLock({ $0 }) == 0, dns.isServing(name) else { return }
        log.info("container \(name.prefix(12)) exited while berthd is away: its resolver stops")
        await dns.stop(containerID: name)
        checkIdle()
    }
}

/// One berthd's control connection.
final class ControlHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let state: ResolverState
    init(state: ResolverState) { self.state = state }

    func channelActive(context: ChannelHandlerContext) {
        state.connected()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.disconnected()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let line = Data(unwrapInboundIn(data).readableBytesView)
        let channel = context.channel
        let state = self.state
        // Requests are answered in order: the next is read once this one's reply is written.
        channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in
            Task {
                let reply: ResolverReply
                if let r = try? JSONDecoder().decode(ResolverRequest.self, from: line) { reply = await state.handle(r) }
                else { reply = ResolverReply(error: "unreadable request") }
                var out = (try? JSONEncoder().encode(reply)) ?? Data("{}".utf8)
                out.append(UInt8(ascii: "\n"))
                try? await channel.writeAndFlush(channel.allocator.buffer(bytes: out)).get()
                try? await channel.setOption(ChannelOptions.autoRead, value: true).get()
            }
        }
    }
}
