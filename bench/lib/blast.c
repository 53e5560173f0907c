/* Fire-and-forget SIP UDP sender for benchmarks (sendmmsg batches of 32).
 * usage: blast HOST PORT SECONDS PPS(0=max) SIZE KIND(OPTIONS|INVITE) SOURCES [SOURCE_BASE]
 * Each datagram has a unique Call-ID and Via branch (so none is a retransmission). SOURCES sockets are bound to
 * SOURCE_BASE+1 .. SOURCE_BASE+N (default base 127.0.1.0: loopback; the enforce bench passes the addresses of a
 * veth in a namespace it creates) and used round-robin, like many attackers. Replies are drained
 * without blocking and counted. Prints one JSON line: {"sent":N,"seconds":S,"replies":R,"errors":E}. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
enum{B=32, MAXS=256};
static char buf[B][4096]; static int idpos[B][2];
static int make(char*out,const char*host,int port,const char*kind,int size,int i,int*p1,int*p2){
  const char*sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n";
  int inv = strcmp(kind,"INVITE")==0;
  int n = sprintf(out,"%s sip:%s@%s:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK0000000000;rport\r\n"
    "From: <sip:probe@127.0.0.1>;tag=%d\r\nTo: <sip:%s@%s>\r\nCall-ID: 0000000000@blast\r\nCSeq: 1 %s\r\n"
    "User-Agent: friendly-scanner\r\nMax-Forwards: 70\r\nContact: <sip:probe@127.0.0.1:5099>\r\n",
    kind, inv ? "0046812118532" : "100", host, port, i, inv ? "0046812118532" : "100", host, kind);
  *p1 = strstr(out,"branch=z9hG4bK")-out+14; *p2 = strstr(out,"Call-ID: ")-out+9;
  int body = inv ? (int)strlen(sdp) : 0;
  int pad = size - n - body - 40; /* room for Content-Length + X-Pad */
  if (pad > 0) { n += sprintf(out+n,"X-Pad: "); while(pad-- > 0 && n < 4000) out[n++]='x'; n += sprintf(out+n,"\r\n"); }
  n += sprintf(out+n,"Content-Length: %d\r\n%s\r\n%s", body, inv ? "Content-Type: application/sdp\r\n" : "", inv ? sdp : "");
  return n;
}
static void stamp(char*p,long v){char t[11];snprintf(t,sizeof t,"%010ld",v%10000000000L);memcpy(p,t,10);}
int main(int c,char**v){
  if(c<8){fprintf(stderr,"usage: blast HOST PORT SECONDS PPS SIZE KIND SOURCES\n");return 2;}
  const char*host=v[1];int port=atoi(v[2]);double secs=atof(v[3]);double rate=atof(v[4]);int size=atoi(v[5]);const char*kind=v[6];int ns=atoi(v[7]);
  if(ns<1)ns=1; if(ns>MAXS)ns=MAXS;
  struct in_addr base; base.s_addr=htonl(0x7f000100u); if(c>8&&inet_pton(AF_INET,v[8],&base)!=1){fprintf(stderr,"bad SOURCE_BASE\n");return 2;}
  struct sockaddr_in dst={0};dst.sin_family=AF_INET;dst.sin_port=htons(port);inet_pton(AF_INET,host,&dst.sin_addr);
  int fds[MAXS];
  for(int s=0;s<ns;s++){
    fds[s]=socket(AF_INET,SOCK_DGRAM,0);
    struct sockaddr_in src={0};src.sin_family=AF_INET;src.sin_addr.s_addr=htonl(ntohl(base.s_addr) + 1 + s);
    if(bind(fds[s],(struct sockaddr*)&src,sizeof src)!=0){perror("bind");return 1;}
    int rb=1<<20; setsockopt(fds[s],SOL_SOCKET,SO_RCVBUF,&rb,sizeof rb);
    connect(fds[s],(struct sockaddr*)&dst,sizeof dst); fcntl(fds[s],F_SETFL,O_NONBLOCK);
  }
  struct mmsghdr msgs[B];struct iovec iov[B];
  for(int i=0;i<B;i++){int n=make(buf[i],host,port,kind,size,i,&idpos[i][0],&idpos[i][1]);
    iov[i].iov_base=buf[i];iov[i].iov_len=n;memset(&msgs[i],0,sizeof msgs[i]);msgs[i].msg_hdr.msg_iov=&iov[i];msgs[i].msg_hdr.msg_iovlen=1;}
  static char rbuf[B][2048]; struct mmsghdr rm[B]; struct iovec riov[B];
  for(int i=0;i<B;i++){riov[i].iov_base=rbuf[i];riov[i].iov_len=sizeof rbuf[i];memset(&rm[i],0,sizeof rm[i]);rm[i].msg_hdr.msg_iov=&riov[i];rm[i].msg_hdr.msg_iovlen=1;}
  long sent=0,err=0,replies=0,seq=0;int cur=0;double t0=now(),end=t0+secs;
  while(1){double t=now();if(t>=end)break;int want=B;
    if(rate>0){long due=(long)((t-t0)*rate)-sent;if(due<=0){usleep(50);goto drain;}if(due<want)want=due;}
    for(int i=0;i<want;i++){seq++;stamp(buf[i]+idpos[i][0],seq);stamp(buf[i]+idpos[i][1],seq);}
    {int r=sendmmsg(fds[cur],msgs,want,0);if(r>0)sent+=r;else err++;}
    cur=(cur+1)%ns;
  drain:
    for(int s=0;s<ns;s++){int r=recvmmsg(fds[s],rm,B,MSG_DONTWAIT,NULL);if(r>0)replies+=r;}
  }
  double te=now();
  double stop=te+1.0; while(now()<stop){int got=0;for(int s=0;s<ns;s++){int r=recvmmsg(fds[s],rm,B,MSG_DONTWAIT,NULL);if(r>0){replies+=r;got=1;}} if(!got)usleep(2000);}
  printf("{\"sent\":%ld,\"seconds\":%.3f,\"replies\":%ld,\"errors\":%ld}\n",sent,te-t0,replies,err);return 0;}
