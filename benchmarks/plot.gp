# The fan-out charts, called by benchmarks/plot.sh (which computes the medians):
#   gnuplot -e "meta='DIR/meta.gp'; outdir='OUT'" benchmarks/plot.gp
# meta.gp sets: servers (word list) and S, clients_tics ("(1000, 5000)"), clients_min, clients_max,
# offered_tics, offered_min, offered_max (clients x rate), colors[S], foot[] (provenance lines), lat_P and
# lat_title[lat_P] (latency panels), thr_P and thr_title[thr_P] (throughput panels), and the data files
# mem_P and mem_title[mem_P] (memory panels: one per topic count), and the data files lat_file, mem_file,
# thr_file: one block per (panel, server), block index (panel - 1) * S + server - 1. Writes outdir/bench-latency.svg, bench-memory.svg, bench-throughput.svg.
load meta

W = 1000            # width, px
PH = 360            # height of one panel, px
TOP = 44            # the chart's title
NF = |foot|
BOTTOM = 16 * NF + 18
fontsize = 12

set encoding utf8
set datafile missing "NaN"
set grid xtics ytics mytics lc rgb "#e4e4e4" lw 1, lc rgb "#f2f2f2" lw 1
set border lc rgb "#404040"
set key outside right top vertical Left reverse samplen 3 spacing 1.1 noenhanced
set format x "%.0f"
set format y "%g"
set tics nomirror
set border 3

# frame(title, panels): the terminal, title and footer labels of one chart (a macro: @frame).
frame = 'H = TOP + P * PH + BOTTOM; \
  set term svg size W, H font "Arial,".fontsize noenhanced background rgb "white"; \
  set output outfile; \
  set multiplot; \
  unset label; \
  set label 1 chart_title at screen 0.5, 1 - 26.0 / H center font "Arial,16" noenhanced; \
  do for [i = 1:NF] { set label (100 + i) foot[i] at screen 8.0 / W, (BOTTOM - 4 - 16 * i) / (1.0 * H) left font "Arial,11" tc rgb "#303030" noenhanced }'
# panel(p): places panel p (1 = top); the labels above are drawn with the first panel only.
panel = 'set origin 0, (BOTTOM + (P - p) * PH) / (1.0 * H); set size 1, PH / (1.0 * H)'

# ---------------------------------------------------------------- latency against clients
P = lat_P
outfile = outdir . '/bench-latency.svg'
chart_title = 'SSE fan-out: publish-to-delivery latency, p50 (solid) and p99 (dashed), against clients'
@frame
set logscale x 10
set logscale y 10
set xrange [clients_min / 1.25 : clients_max * 1.25]
set xtics @clients_tics
set mxtics default
set xlabel "clients (concurrent SSE connections)"
set ylabel "latency, ms"
do for [p = 1:P] {
  @panel
  set title lat_title[p] noenhanced
  plot for [i = 0:2 * S - 1] lat_file index ((p - 1) * S + i / 2) using 1:(column(2 + i % 2)) \
       with linespoints lc rgb colors[i / 2 + 1] lw (i % 2 ? 1.5 : 2) dt 1 + i % 2 \
       pt (i % 2 ? 6 : 7) ps 0.9 title word(servers, i / 2 + 1) . (i % 2 ? ' p99' : ' p50')
  unset label
}
unset multiplot

# ---------------------------------------------------------------- memory per connection
P = mem_P
outfile = outdir . '/bench-memory.svg'
chart_title = 'SSE fan-out: resident memory per idle connection against clients'
@frame
unset logscale y
set yrange [0:*]
set ylabel "KiB per connection"
do for [p = 1:P] {
  @panel
  set title "(RSS with N idle connections - RSS before connecting) / N, of all the server's processes (nginx: master + workers)" \
    . (strlen(mem_title[p]) > 0 ? "; " . mem_title[p] : "") noenhanced
  plot for [s = 1:S] mem_file index ((p - 1) * S + s - 1) using 1:2 with linespoints lc rgb colors[s] lw 2 pt 7 ps 0.9 \
       title word(servers, s)
  unset label
}
unset multiplot
set autoscale y

# ---------------------------------------------------------------- deliveries against offered load
P = thr_P
outfile = outdir . '/bench-throughput.svg'
chart_title = 'SSE fan-out: delivered events per second against offered load (clients x events/s)'
@frame
set xrange [offered_min / 1.5 : offered_max * 1.5]
set xtics @offered_tics
set logscale x 10
set logscale y 10
set format x "%.0s%c"
set format y "%.0s%c"
set xlabel "offered load, deliveries/s (clients x publish rate)"
set ylabel "delivered events/s"
set samples 200
do for [p = 1:P] {
  @panel
  set title thr_title[p] . '; the diagonal is the offered load' noenhanced
  plot for [s = 1:S] thr_file index ((p - 1) * S + s - 1) using 1:2 with linespoints lc rgb colors[s] lw 2 \
         pt 7 ps 0.9 title word(servers, s), \
       x with lines lc rgb "#888888" dt 2 lw 1 title "offered"
  unset label
}
unset multiplot
