import BerthModels
import BerthSystem
import NIOHTTP1

/// The one table from error kinds to HTTP statuses (dockerd's httpstatus mapping).
enum ErrorMapping {
    static func status(_ kind: BerthError.Kind) -> HTTPResponseStatus {
        switch kind {
        case .notFound: return .notFound
        case .invalidArgument: return .badRequest
        case .conflict: return .conflict
        case .notModified: return .notModified
        case .notImplemented: return .notImplemented
        case .unavailable: return .serviceUnavailable
        case .forbidden: return .forbidden
        case .unauthorized: return .unauthorized
        default: return .internalServerError
        }
    }

    static func response(_ error: any Error) -> Response {
        let e = (error as? DigestError).map { BerthError.invalid($0.description) } ?? BerthError.wrap(error)
        let status = status(e.kind)
        if status == .notModified { return Response(status: .notModified) }
        return (try? Response.json(ErrorResponse(message: e.message), status: status))
            ?? Response(status: .internalServerError)
    }
}
