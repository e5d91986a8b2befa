#include "core/redis/conn.hpp"

#include <utility>

namespace socketio::redis {

Conn::Conn(ConnOptions options) : opts_(std::move(options))
{
}

void Conn::on_connected()
{
    parser_.emplace(opts_.limits);
    out_.clear();
    waiting_.clear();
    why_.clear();
    state_ = State::handshake;
    handshake_left_ = 0;

    /* the replies of the handshake come first: they are counted, not
       given to anyone */
    if (!opts_.password.empty()) {
        if (opts_.user.empty()) {
            send({"AUTH", opts_.password}, {});
        } else {
            send({"AUTH", opts_.user, opts_.password}, {});
        }
        handshake_left_++;
    }
    if (opts_.db != 0) {
        std::string db = std::to_string(opts_.db);
        send({"SELECT", db}, {});
        handshake_left_++;
    }

    if (handshake_left_ == 0) {
        state_ = State::ready;
        if (ready_fn_) {
            ready_fn_();
        }
    }
}

bool Conn::on_bytes(std::string_view bytes)
{
    if (!parser_) {
        return false;
    }

    parser_->feed(bytes);

    while (auto r = parser_->next()) {
        if (!handle(*r)) {
            return false;
        }
    }

    if (auto e = parser_->error()) {
        fail(std::string("a reply Redis sent does not parse: ")
             + std::string(resp::describe(*e)));
        return false;
    }

    return true;
}

bool Conn::handle(const resp::Reply& r)
{
    if (state_ == State::handshake) {
        if (r.is(resp::Reply::Type::error)) {
            fail("Redis refused the handshake: " + std::string(r.str));
            return false;
        }
        if (!waiting_.empty()) {
            waiting_.pop_front();
        }
        if (--handshake_left_ == 0) {
            state_ = State::ready;
            if (ready_fn_) {
                ready_fn_();
            }
        }
        return true;
    }

    /*
     * A subscribed connection gets its pushes between the replies to its
     * (P)SUBSCRIBE commands: "message" and "pmessage" arrays are pushes,
     * whatever waits.
     */
    if (r.is(resp::Reply::Type::array) && !r.elements.empty()
        && (r.elements[0].is_string("message")
            || r.elements[0].is_string("pmessage")
            || r.elements[0].is_string("subscribe")
            || r.elements[0].is_string("psubscribe")))
    {
        if (push_fn_) {
            push_fn_(r);
        }
        return true;
    }

    if (waiting_.empty()) {
        /* a reply nobody asked for: the stream is not what we think */
        fail("Redis sent a reply to no command");
        return false;
    }

    ReplyFn done = std::move(waiting_.front());
    waiting_.pop_front();
    if (done) {
        done(&r);
    }
    return true;
}

void Conn::on_closed()
{
    state_ = State::down;
    parser_.reset();
    out_.clear();

    auto waiting = std::move(waiting_);
    waiting_.clear();
    for (auto& done : waiting) {
        if (done) {
            done(nullptr);
        }
    }
}

void Conn::written(std::size_t n) noexcept
{
    out_.erase(0, n);
}

bool Conn::command(std::initializer_list<std::string_view> args, ReplyFn done)
{
    return command(std::vector<std::string_view>(args), std::move(done));
}

bool Conn::command(const std::vector<std::string_view>& args, ReplyFn done)
{
    if (state_ != State::ready) {
        return false;
    }

    std::size_t size = 16;
    for (auto a : args) {
        size += a.size() + 16;
    }
    if (out_.size() + size > opts_.max_output) {
        return false;
    }

    send(args, std::move(done));
    return true;
}

void Conn::send(const std::vector<std::string_view>& args, ReplyFn done)
{
    /* the bytes and their callback go together, or neither does */
    std::size_t before = out_.size();
    resp::append_command(out_, args);
    try {
        waiting_.push_back(std::move(done));

    } catch (...) {
        out_.resize(before);
        throw;
    }
}

bool Conn::subscribe(const std::vector<std::string_view>& args)
{
    if (state_ != State::ready) {
        return false;
    }
    /* no reply is awaited: Redis confirms each channel with a push */
    resp::append_command(out_, args);
    return true;
}

void Conn::fail(std::string why)
{
    why_ = std::move(why);
}

}  // namespace socketio::redis
