/* The statsd module's datagram reader: many datagrams per recvmmsg(2) straight into the listener's staging
buffer, packed back to back, newline separated (see receivers/statsd/listeners.py, whose recv_into loop is the
reference and the fallback off Linux). Included by statsd.c only. */
#ifdef __linux__
#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define RECV_SLOTS 64
#define HAVE_RECV_BURST 1

/* recv_burst(fd, stage, off, max_packet, budget) -> (off, packets, oversized, status). Datagrams go to
   stage[off:], each followed by a newline; one longer than max_packet is dropped and counted. At most `budget`
   datagrams are read. status: 0 the socket is empty, 1 the stage has no room for one more datagram, 2 the
   budget is spent, -errno on a receive error. */
static PyObject *recv_burst(PyObject *module, PyObject *args)
{
    int fd;
    Py_buffer buf;
    Py_ssize_t off, maxp, budget;
    if (!PyArg_ParseTuple(args, "iw*nnn:recv_burst", &fd, &buf, &off, &maxp, &budget))
        return NULL;
    if (maxp < 0 || maxp > (1 << 24) || off < 0 || off > buf.len) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "recv_burst: bad offset or max_packet");
        return NULL;
    }
    char *b = buf.buf;
    Py_ssize_t slot = maxp + 1, packets = 0, oversized = 0;
    int status;
    struct mmsghdr msgs[RECV_SLOTS];
    struct iovec iov[RECV_SLOTS];
    for (;;) {
        if (budget <= 0) {
            status = 2;
            break;
        }
        Py_ssize_t n = (buf.len - off) / slot; /* slots of max_packet + 1: room for the newline, and a longer
                                                  datagram fills its slot and is seen as oversized */
        if (n <= 0) {
            status = 1;
            break;
        }
        if (n > RECV_SLOTS)
            n = RECV_SLOTS;
        if (n > budget)
            n = budget;
        memset(msgs, 0, (size_t)n * sizeof(msgs[0]));
        for (Py_ssize_t i = 0; i < n; i++) {
            iov[i].iov_base = b + off + i * slot;
            iov[i].iov_len = (size_t)slot;
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int got = recvmmsg(fd, msgs, (unsigned int)n, MSG_DONTWAIT, NULL);
        if (got < 0) {
            status = (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -errno;
            break;
        }
        budget -= got;
        for (int i = 0; i < got; i++) { /* compact: every datagram moves down (or stays) */
            Py_ssize_t m = (Py_ssize_t)msgs[i].msg_len;
            if (m > maxp || (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)) {
                oversized++;
                continue;
            }
            memmove(b + off, iov[i].iov_base, (size_t)m);
            b[off + m] = '\n';
            off += m + 1;
            packets++;
        }
        if (got < n) {
            status = 0;
            break;
        }
    }
    PyBuffer_Release(&buf);
    return Py_BuildValue("nnni", off, packets, oversized, status);
}
#endif
