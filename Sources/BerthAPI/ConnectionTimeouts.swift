import NIOCore

/// Closes connections that hold berthd without making progress (slowloris): a request head
/// must arrive within `headTimeout` of the connection opening or of its first byte, and a
/// keep-alive connection may sit idle between requests for `idleTimeout`. While a request is
/// served (a long upload, `logs -f`, an attach) no timer runs. Sits before the HTTP decoder,
/// so it sees the raw bytes; the connection handler tells it when requests start and end.
final class ConnectionTimeouts: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = Any

    enum Event: Sendable { case requestStarted, responseDone }
    enum State { case awaitingHead, idle, busy }

    static let name = "berth.http.timeouts"
    let headTimeout: TimeAmount
    let idleTimeout: TimeAmount
    private var state = State.awaitingHead
    private var timer: Scheduled<Void>?

    init(headTimeout: TimeAmount = .seconds(30), idleTimeout: TimeAmount = .minutes(5)) {
        self.headTimeout = headTimeout
        self.idleTimeout = idleTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context, headTimeout) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context, headTimeout)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if state == .idle {
            // The first bytes of the next request: its head is due within headTimeout.
            state = .awaitingHead
            arm(context, headTimeout)
        }
        context.fireChannelRead(data)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let e = event as? Event else { return context.triggerUserOutboundEvent(event, promise: promise) }
        switch e {
        case .requestStarted:
            state = .busy
            timer?.cancel()
            timer = nil
        case .responseDone:
            state = .idle
            arm(context, idleTimeout)
        }
        promise?.succeed(())
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    private func arm(_ context: ChannelHandlerContext, _ after: TimeAmount) {
        timer?.cancel()
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: after) { channel.close(promise: nil) }
    }
}
