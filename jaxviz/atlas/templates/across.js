{# One point's filters of one layer; compare/<layer>.html loads one such script a point, and atlas.js draws them. #}
(window.jaxvizAcross = window.jaxvizAcross || []).push({{ data|tojson }});
